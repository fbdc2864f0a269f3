/**
 * The clients of the load bench, run as a child process (forked, IPC) so that the server's event loop is
 * the server's alone: on `go`, `count` werift RTCPeerConnections on their own loopback sockets (STUN off)
 * each create a data channel and an offer at once; the offer goes to the server over IPC and its answer
 * comes back the same way. Measured per client: createOffer → the channel's `open` here, or null when it
 * did not open within `timeoutMs`. See lib/load-protocol.ts.
 */
import type { RTCPeerConnection } from "werift";
import type { FromClients, ToClients } from "./lib/load-protocol.js";
import { gathered, loopbackPeerConnection, opened } from "./lib/werift.js";

/** How long closing every peer connection may take before the process exits anyway. */
const CLOSE_TIMEOUT_MS = 3000;

const reply = (m: FromClients) => process.send!(m);
const answers = new Map<number, (sdp: string) => void>();
const pcs: RTCPeerConnection[] = [];

async function openOne(id: number, timeoutMs: number): Promise<number | null> {
  const pc = loopbackPeerConnection();
  pcs.push(pc);
  const channel = pc.createDataChannel("load");
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  const start = performance.now();
  const open = (async () => {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const answer = new Promise<string>((resolve) => answers.set(id, resolve));
    reply({ type: "offer", id, sdp: pc.localDescription!.sdp });
    await pc.setRemoteDescription({ type: "answer", sdp: await answer });
    await opened(channel);
    return performance.now() - start;
  })();
  try {
    return await Promise.race([open, timeout]);
  } finally {
    clearTimeout(timer);
    answers.delete(id);
  }
}

async function closeAll(): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(pcs.map((pc) => pc.close())),
    new Promise((resolve) => {
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
}

async function main(): Promise<void> {
  if (process.send === undefined) throw new Error("load-clients.js must be forked with an IPC channel");
  process.on("disconnect", () => process.exit(0));
  process.on("message", async (m: ToClients) => {
    try {
      switch (m.type) {
        case "go": {
          const ids = Array.from({ length: m.count }, (_, i) => i);
          const openMs = await Promise.all(ids.map((id) => openOne(id, m.timeoutMs)));
          return reply({ type: "done", openMs });
        }
        case "answer":
          return answers.get(m.id)?.(m.sdp);
        case "exit":
          await closeAll();
          return process.disconnect();
      }
    } catch (err) {
      console.error("load clients:", err);
      process.exit(1);
    }
  });
  reply({ type: "ready" });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
