/**
 * The web server a `TCPMux` shares its port with (`web`): what the mux does to it, and to the connections
 * it hands over, so that the server sees them as it would have from a listen of its own. Which connection
 * is the web's is `classify.ts`'s decision; this is the socket glue.
 */
import type { Server, Socket } from "node:net";

/** Marks a web server on which a mux emitted `'listening'`, so that no other mux does it again. */
const WEB_STARTED = Symbol("udpmux.webStarted");

/**
 * The web server is reachable from now on. Node's http.Server starts its headersTimeout and requestTimeout
 * checks, and the connection tracking of closeAllConnections(), on `'listening'`; it must happen once (a
 * second would start a second interval), however many muxes share the server.
 */
export function announceListening(web: Server): void {
  const marked = web as Server & { [WEB_STARTED]?: true };
  if (marked[WEB_STARTED] !== undefined) return;
  marked[WEB_STARTED] = true;
  web.emit("listening");
}

/**
 * Give `socket`, whose first `bytes` were read and are not ICE-TCP, to `web`, the mux's listeners already
 * off: the bytes pushed back, the stream neither flowing nor paused. Node's HTTP server hands an upgraded
 * socket on the same way (`readableFlowing = null`, then `'upgrade'`): an HTTP server's `'data'` listener
 * starts it flowing, and a TLS server's socket reads what is buffered, then the handle.
 */
export function handOff(web: Server, socket: Socket, bytes: Buffer): void {
  // As the web server's own listen would have made it: an HTTP server lets a client half-close and still
  // answers (the mux's connections close when the peer does).
  socket.allowHalfOpen = (web as { allowHalfOpen?: boolean }).allowHalfOpen === true;
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
  socket.unshift(bytes);
  web.emit("connection", socket);
}
