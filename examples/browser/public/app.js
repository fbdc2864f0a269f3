// Opens N peer connections to the werift server (?peers=N, default 6), each with a data channel that
// sends a ping every PING_INTERVAL_MS; the server echoes it and the page shows the round-trip times and
// the candidate pair each peer connection selected: every one reaches the same server UDP port.
//
// ?gum=1 asks for the microphone first. Chromium enumerates every interface (loopback included) only
// for a page holding a media permission; headless tests in a loopback-only network namespace need it.

const PING_INTERVAL_MS = 250;
/** Samples kept for the average. */
const WINDOW = 20;

const params = new URLSearchParams(location.search);
const count = Math.min(Math.max(Number(params.get("peers") ?? 6) || 6, 1), 32);
const rows = document.getElementById("peers");
const summary = document.getElementById("summary");
const serverLine = document.getElementById("server");
const peers = [];

function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}

function addRow(index) {
  const row = rows.insertRow();
  const cells = Array.from({ length: 8 }, () => row.insertCell());
  cells[0].textContent = String(index + 1);
  for (const i of [4, 5, 6]) cells[i].className = "num";
  const bar = document.createElement("div");
  bar.className = "bar";
  bar.style.width = "0";
  cells[7].append(bar);
  return { cells, bar };
}

async function connect(index) {
  const view = addRow(index);
  const peer = { pc: new RTCPeerConnection({ iceServers: [] }), rtts: [], pings: 0, view, remote: undefined };
  peers.push(peer);
  const { pc } = peer;
  const showState = () => {
    view.cells[1].textContent = pc.connectionState;
    view.cells[1].className = `state-${pc.connectionState}`;
  };
  pc.addEventListener("connectionstatechange", showState);
  showState();

  const channel = pc.createDataChannel("rtt");
  channel.addEventListener("message", ({ data }) => {
    const { sent } = JSON.parse(data);
    peer.rtts.push(performance.now() - sent);
    if (peer.rtts.length > WINDOW) peer.rtts.shift();
    peer.pings++;
  });
  channel.addEventListener("open", () => {
    setInterval(() => {
      if (channel.readyState === "open") channel.send(JSON.stringify({ sent: performance.now() }));
    }, PING_INTERVAL_MS);
  });

  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc);
  const response = await fetch("/offer", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sdp: pc.localDescription.sdp }),
  });
  if (!response.ok) throw new Error(`signaling failed: HTTP ${response.status}`);
  await pc.setRemoteDescription({ type: "answer", sdp: (await response.json()).sdp });
}

async function showSelectedPairs() {
  for (const peer of peers) {
    const stats = new Map();
    (await peer.pc.getStats()).forEach((stat) => {
      stats.set(stat.id, stat);
    });
    const transport = [...stats.values()].find((stat) => stat.type === "transport");
    const pair = stats.get(transport?.selectedCandidatePairId);
    const local = stats.get(pair?.localCandidateId);
    const remote = stats.get(pair?.remoteCandidateId);
    if (local !== undefined) peer.view.cells[2].textContent = `${local.address}:${local.port}`;
    if (remote !== undefined) {
      peer.remote = `${remote.address}:${remote.port}`;
      peer.view.cells[3].textContent = peer.remote;
    }
  }
}

function render() {
  const worst = Math.max(1, ...peers.flatMap((peer) => peer.rtts));
  for (const peer of peers) {
    const last = peer.rtts.at(-1);
    const avg = peer.rtts.reduce((sum, rtt) => sum + rtt, 0) / (peer.rtts.length || 1);
    peer.view.cells[4].textContent = last === undefined ? "–" : `${last.toFixed(2)} ms`;
    peer.view.cells[5].textContent = last === undefined ? "–" : `${avg.toFixed(2)} ms`;
    peer.view.cells[6].textContent = String(peer.pings);
    peer.view.bar.style.width = `${((avg / worst) * 100).toFixed(1)}%`;
  }
  const servers = new Set(peers.map((peer) => peer.remote).filter(Boolean));
  const connected = peers.filter((peer) => peer.pc.connectionState === "connected").length;
  summary.textContent =
    `${connected} of ${peers.length} peer connections connected` +
    (servers.size > 0
      ? `, all to ${servers.size === 1 ? "one server address" : `${servers.size} server addresses`}: ${[...servers].join(", ")}`
      : "");
  // Lets a test (or you) know the demo is up: every peer connection has a few round trips.
  document.body.dataset.state =
    peers.length === count && peers.every((peer) => peer.pings >= 4) ? "live" : "starting";
  document.body.dataset.serverAddresses = [...servers].join(" ");
}

// The server's side: how many peer connections share its one UDP socket, and what the mux routed.
async function showServer() {
  const { udpPort, peerConnections, mux } = await (await fetch("/stats")).json();
  serverLine.textContent =
    `server: ${peerConnections} werift peer connections on one UDP socket (port ${udpPort}); ` +
    `mux: ${mux.connections} ICE sessions, ${mux.received} datagrams in, ${mux.dropped} dropped`;
}

if (params.get("gum") === "1") {
  const media = await navigator.mediaDevices.getUserMedia({ audio: true });
  for (const track of media.getTracks()) track.stop();
}
await Promise.all(Array.from({ length: count }, (_, index) => connect(index))).catch((error) => {
  summary.textContent = `Could not connect: ${error}`;
  throw error;
});
setInterval(render, 200);
setInterval(showSelectedPairs, 1000);
setInterval(showServer, 1000);
await Promise.all([showSelectedPairs(), showServer()]);
