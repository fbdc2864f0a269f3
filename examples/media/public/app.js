// ?role=publish sends this browser's camera and microphone to the server; any other page (the default,
// ?role=view) receives what the publisher sends, through the server, and shows what its browser measures.
//
// ?send=1 (viewers) also sends this browser's camera and microphone, as a conference participant would
// (the server receives them and forwards only the publisher's): the case where werift misroutes the
// viewer's keyframe requests (see ../pli.mjs).
//
// ?gum=1 (viewers) asks for the microphone first and releases it. Chromium enumerates every interface,
// loopback included, only for a page holding a media permission; headless tests in a loopback-only
// network namespace need it. A publisher holds the permission anyway.

const params = new URLSearchParams(location.search);
const role = params.get("role") === "publish" ? "publish" : "view";
const video = document.getElementById("video");
const statusLine = document.getElementById("status");
const serverLine = document.getElementById("server");
const statsBody = document.getElementById("stats");
const unmute = document.getElementById("unmute");
/** How long a viewer waits before asking again when nobody is publishing. */
const RETRY_MS = 1000;

let pc;
let latest = { role };

function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}

/** Offers `pc` to the server's `path`; resolves with the HTTP status (200 once connected). */
async function negotiate(pc, path) {
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc);
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sdp: pc.localDescription.sdp }),
  });
  if (!response.ok) return { status: response.status, message: await response.text() };
  await pc.setRemoteDescription({ type: "answer", sdp: (await response.json()).sdp });
  return { status: 200 };
}

function watchState(pc) {
  pc.addEventListener("connectionstatechange", () => {
    statusLine.textContent =
      pc.connectionState === "connected"
        ? `${role === "publish" ? "Publishing" : "Watching"}: connected`
        : pc.connectionState === "failed" || pc.connectionState === "closed"
          ? `Disconnected (${pc.connectionState}); reload to ${role === "publish" ? "publish" : "watch"} again`
          : `Connection ${pc.connectionState}`;
  });
}

async function publish() {
  document.getElementById("title").textContent = "Publishing camera and microphone";
  const media = await navigator.mediaDevices.getUserMedia({
    video: { width: 640, height: 480 },
    audio: true,
  });
  video.srcObject = media;
  pc = new RTCPeerConnection({ iceServers: [] });
  watchState(pc);
  for (const track of media.getTracks())
    pc.addTransceiver(track, { direction: "sendonly", streams: [media] });
  const { status, message } = await negotiate(pc, "/publish");
  if (status !== 200) {
    statusLine.textContent = `Could not publish: ${message}`;
    for (const track of media.getTracks()) track.stop();
    pc.close();
  }
}

async function view() {
  document.getElementById("title").textContent = "Watching the publisher through the server";
  const send = params.get("send") === "1";
  const own = send
    ? await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: true })
    : undefined;
  if (!send && params.get("gum") === "1") {
    const media = await navigator.mediaDevices.getUserMedia({ audio: true });
    for (const track of media.getTracks()) track.stop();
  }
  for (;;) {
    pc = new RTCPeerConnection({ iceServers: [] });
    for (const kind of ["video", "audio"]) {
      const track = own?.getTracks().find((t) => t.kind === kind);
      pc.addTransceiver(track ?? kind, { direction: track ? "sendrecv" : "recvonly" });
    }
    const stream = new MediaStream();
    pc.addEventListener("track", ({ track }) => {
      stream.addTrack(track);
      video.srcObject = stream;
    });
    watchState(pc);
    const { status, message } = await negotiate(pc, "/view");
    if (status === 200) break;
    pc.close();
    statusLine.textContent = `${message}; asking again in ${RETRY_MS / 1000} s`;
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
  unmute.hidden = false;
  unmute.addEventListener("click", () => {
    video.muted = !video.muted;
    unmute.textContent = video.muted ? "Unmute" : "Mute";
  });
}

/** What this browser measures: the selected candidate pair and the RTP streams (its getStats()). */
async function measure() {
  const all = new Map();
  (await pc.getStats()).forEach((stat) => {
    all.set(stat.id, stat);
  });
  const stats = [...all.values()];
  const transport = stats.find((stat) => stat.type === "transport");
  const pair = all.get(transport?.selectedCandidatePairId);
  const local = all.get(pair?.localCandidateId);
  const remote = all.get(pair?.remoteCandidateId);
  const type = role === "publish" ? "outbound-rtp" : "inbound-rtp";
  const rtp = (kind) => stats.find((stat) => stat.type === type && stat.kind === kind) ?? {};
  const v = rtp("video");
  const a = rtp("audio");
  return {
    role,
    connectionState: pc.connectionState,
    selected:
      local && remote
        ? { local: `${local.address}:${local.port}`, remote: `${remote.address}:${remote.port}` }
        : undefined,
    video: {
      framesDecoded: v.framesDecoded,
      keyFramesDecoded: v.keyFramesDecoded,
      framesEncoded: v.framesEncoded,
      keyFramesEncoded: v.keyFramesEncoded,
      framesPerSecond: v.framesPerSecond,
      width: v.frameWidth,
      height: v.frameHeight,
      packetsReceived: v.packetsReceived,
      packetsSent: v.packetsSent,
      packetsLost: v.packetsLost,
      nackCount: v.nackCount,
      pliCount: v.pliCount,
      freezeCount: v.freezeCount,
    },
    audio: {
      packetsReceived: a.packetsReceived,
      packetsSent: a.packetsSent,
      packetsLost: a.packetsLost,
      totalSamplesReceived: a.totalSamplesReceived,
      totalAudioEnergy: a.totalAudioEnergy,
    },
  };
}

const LABELS = {
  publish: [
    ["video frames encoded", (s) => s.video.framesEncoded],
    ["video keyframes encoded", (s) => s.video.keyFramesEncoded],
    ["video frames per second", (s) => s.video.framesPerSecond],
    ["video packets sent", (s) => s.video.packetsSent],
    ["keyframe requests (PLI) received", (s) => s.video.pliCount],
    ["NACKs received", (s) => s.video.nackCount],
    ["audio packets sent", (s) => s.audio.packetsSent],
  ],
  view: [
    ["video frames decoded", (s) => s.video.framesDecoded],
    ["video keyframes decoded", (s) => s.video.keyFramesDecoded],
    ["video frames per second", (s) => s.video.framesPerSecond],
    ["video size", (s) => (s.video.width ? `${s.video.width}×${s.video.height}` : undefined)],
    [
      "video packets received / lost",
      (s) =>
        s.video.packetsReceived === undefined
          ? undefined
          : `${s.video.packetsReceived} / ${s.video.packetsLost}`,
    ],
    ["keyframe requests (PLI) sent", (s) => s.video.pliCount],
    [
      "audio packets received / lost",
      (s) =>
        s.audio.packetsReceived === undefined
          ? undefined
          : `${s.audio.packetsReceived} / ${s.audio.packetsLost}`,
    ],
    ["audio samples received", (s) => s.audio.totalSamplesReceived],
  ],
};

async function render() {
  if (pc === undefined) return;
  latest = await measure();
  const rows = [
    ...LABELS[role].map(([label, value]) => [label, value(latest)]),
    ["browser candidate", latest.selected?.local],
    ["server candidate", latest.selected?.remote],
  ];
  statsBody.replaceChildren(
    ...rows.map(([label, value]) => {
      const row = document.createElement("tr");
      row.insertCell().textContent = label;
      const cell = row.insertCell();
      cell.className = "num";
      cell.textContent =
        value === undefined ? "–" : typeof value === "number" ? String(Math.round(value * 100) / 100) : value;
      return row;
    }),
  );
  // Lets a test (or you) know media flows: frames encoded (publisher) or decoded (viewer).
  const frames = role === "publish" ? latest.video.framesEncoded : latest.video.framesDecoded;
  document.body.dataset.state = frames > 0 ? "live" : "starting";
}

// The server's side: how many peer connections share its one UDP socket, and the keyframe requests.
async function showServer() {
  const s = await (await fetch("/stats")).json();
  serverLine.textContent =
    `server: ${s.peerConnections} werift peer connections on one UDP socket (port ${s.udpPort}), ` +
    `${s.viewers} viewer${s.viewers === 1 ? "" : "s"}; keyframe requests: ${s.pliFromViewers} from viewers ` +
    `(${s.pliMisrouted} rescued from werift's RTCP routing), ${s.pliToPublisher} to the publisher`;
}

/** For tests: this browser's measurements, fresh. */
window.mediaStats = () => (pc === undefined ? Promise.resolve({ role }) : measure());

try {
  await (role === "publish" ? publish() : view());
} catch (error) {
  statusLine.textContent = `Failed: ${error}`;
  throw error;
}
setInterval(render, 500);
setInterval(showServer, 1000);
await Promise.all([render(), showServer()]);
