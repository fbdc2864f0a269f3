// What the examples' HTTP signaling shares (non-trickle: each SDP carries its candidates, so a side sends
// its description once werift has gathered): waiting for gathering, reading a bounded request body, and a
// client's offer POSTed to a server.

/** Resolves once `pc` (a werift RTCPeerConnection) has gathered: its local description then carries every candidate. */
export function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const { unSubscribe } = pc.iceGatheringStateChange.subscribe((state) => {
      if (state !== "complete") return;
      unSubscribe();
      resolve();
    });
  });
}

/** An error a request handler answers with `status` and its message. */
export class HttpError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * The request's body as text; rejects with an `HttpError` 413 as soon as it grows past `maxBytes`.
 * @param {import("node:http").IncomingMessage} req
 * @param {number} maxBytes
 */
export async function readBody(req, maxBytes) {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > maxBytes) throw new HttpError(413, `offer larger than ${maxBytes} bytes`);
  }
  return body;
}

/**
 * POSTs `offer` as JSON to `url` and resolves with the server's JSON answer; rejects, naming `name`, on an
 * HTTP error.
 * @param {string} url
 * @param {object} offer
 * @param {string} [name]
 */
export async function postOffer(url, offer, name) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(offer),
  });
  if (!res.ok)
    throw new Error(
      `${name === undefined ? "" : `${name}: `}signaling: HTTP ${res.status} ${await res.text()}`,
    );
  return res.json();
}

/**
 * Stop an example server in order: the HTTP signaling (open connections too), then every peer connection,
 * then the muxes (the last: closing a mux first would close its peer connections under them).
 * @param {import("node:http").Server} server
 * @param {Set<{ close(): Promise<void> }>} peers
 * @param {...({ close(): Promise<void> } | undefined)} muxes
 */
export async function closeExample(server, peers, ...muxes) {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await Promise.all([...peers].map((pc) => pc.close()));
  peers.clear();
  for (const mux of muxes) await mux?.close();
}
