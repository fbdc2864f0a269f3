// WHIP (RFC 9725) and WHEP endpoints for the examples' HTTP servers, with the werift side of a session.
//
// An endpoint is a path (`/whip`, `/whep`, `/offer`); a session it created lives at `<endpoint>/<id>`:
//
//   POST    <endpoint>       application/sdp offer → 201 Created, Location: <endpoint>/<id>, ETag, the SDP
//                            answer in the body; Link: <stun:…>; rel="ice-server" for each ICE server given
//   PATCH   <endpoint>/<id>  application/trickle-ice-sdpfrag: trickled candidates (204), or new ICE
//                            credentials: an ICE restart (200, the server's new ufrag, pwd and candidates
//                            as an sdpfrag, a new ETag). Only where the application supports it (else 405)
//   DELETE  <endpoint>/<id>  ends the session (200)
//   OPTIONS either           CORS preflight (204), with the Link headers
//
// CORS is open (`Access-Control-Allow-Origin: *` unless told otherwise) so that a WHIP/WHEP page served
// elsewhere can publish; with `token`, every request but OPTIONS needs `Authorization: Bearer <token>`.
// The application owns the peer connections: `offer(sdp, context)` creates one and resolves with a session
// (its answer and how to trickle, restart and close it); `context.forget()` drops a session whose peer
// connection ended on its own. `answerWithWerift` does that part for a werift RTCPeerConnection.
import { randomUUID, timingSafeEqual } from "node:crypto";
import { gathered, HttpError, readBody } from "./signaling.mjs";

/** Largest offer or sdpfrag accepted; an offer with audio, video and a few candidates is about 8 KiB. */
export const MAX_WHIP_BODY_BYTES = 64 * 1024;
/** Sessions one endpoint set holds at most: each is a peer connection, the application bounds it further. */
const MAX_SESSIONS = 1024;

const SDP = "application/sdp";
const SDPFRAG = "application/trickle-ice-sdpfrag";

/** The media type of a request, without parameters (`application/sdp; charset=utf-8` → `application/sdp`). */
function mediaType(req) {
  return (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
}

/**
 * An SDP offer that werift can answer: `v=0` and at least one media section (werift never settles an offer
 * without one). Anything else is a 400, before a peer connection exists.
 * @param {string} sdp
 */
export function assertOffer(sdp) {
  if (!sdp.startsWith("v=0") || !/\r?\nm=/.test(sdp)) {
    throw new HttpError(400, "the body must be an SDP offer (v=0 …) with at least one media section");
  }
}

/**
 * Parses an `application/trickle-ice-sdpfrag` body (RFC 8840): the ICE credentials (session or media
 * level), and per media section its mid, `a=candidate` lines and `a=end-of-candidates`. Never throws.
 * @param {string} text
 * @returns {{ ufrag?: string, pwd?: string, media: { mid?: string, candidates: string[] }[], endOfCandidates: boolean }}
 */
export function parseSdpFrag(text) {
  const frag = { ufrag: undefined, pwd: undefined, media: [], endOfCandidates: false };
  let section;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("m=")) {
      section = { mid: undefined, candidates: [] };
      frag.media.push(section);
    } else if (line.startsWith("a=ice-ufrag:")) frag.ufrag = line.slice(12);
    else if (line.startsWith("a=ice-pwd:")) frag.pwd = line.slice(10);
    else if (line.startsWith("a=mid:") && section !== undefined) section.mid = line.slice(6);
    else if (line.startsWith("a=candidate:")) {
      if (section === undefined) {
        section = { mid: undefined, candidates: [] };
        frag.media.push(section);
      }
      section.candidates.push(line.slice(2));
    } else if (line === "a=end-of-candidates") frag.endOfCandidates = true;
  }
  return frag;
}

/** The first `a=<name>:` value of `sdp`. */
const attribute = (sdp, name) => new RegExp(`^a=${name}:(.*?)\\r?$`, "m").exec(sdp)?.[1];

/**
 * WHIP/WHEP endpoints for an `http.Server`: call `handle(req, res)` first in the request handler; it
 * answers the requests that are its own and resolves `true`, or resolves `false` for any other.
 * @param {{
 *   endpoints: Record<string, (offer: string, context: { id: string, forget(): void }) => Promise<{
 *     id?: string,
 *     answer: string,
 *     trickle?: (frag: ReturnType<typeof parseSdpFrag>) => Promise<void>,
 *     restartIce?: (frag: ReturnType<typeof parseSdpFrag>) => Promise<string>,
 *     close(): Promise<void> | void,
 *   }>>,
 *   newId?: (endpoint: string) => string,
 *   token?: string,
 *   iceServers?: (req: import("node:http").IncomingMessage) => string[],
 *   trickle?: boolean,
 *   allowOrigin?: string,
 * }} options `endpoints`: path → the application's offer handler. `newId`: the session ids (default a
 * random UUID). `iceServers`: URIs for the Link headers (`stun:127.0.0.1:5000`). `trickle` (default true):
 * whether PATCH is offered (the sessions then have `trickle`). `allowOrigin`: CORS.
 */
export function whipEndpoints({
  endpoints,
  newId = () => randomUUID(),
  token,
  iceServers,
  trickle = true,
  allowOrigin = "*",
}) {
  /** id → { path, session, etag, remoteUfrag } */
  const sessions = new Map();
  const counts = {
    /** Sessions created (201) and ended by DELETE. */
    created: 0,
    deleted: 0,
    /** Candidates in the POSTed offers, and candidates trickled in PATCHes. */
    offerCandidates: 0,
    trickledCandidates: 0,
    /** ICE restarts (PATCH with new credentials). */
    iceRestarts: 0,
  };
  let nextEtag = 0;
  const etag = () => `"${(nextEtag++).toString(36)}-${randomUUID().slice(0, 8)}"`;
  const expected = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);

  function cors(res, methods) {
    res.setHeader("access-control-allow-origin", allowOrigin);
    res.setHeader("access-control-allow-methods", methods);
    // the eyevinn whip-web-client sends its ETag in an `ETag` request header, not `If-Match`
    res.setHeader("access-control-allow-headers", "authorization, content-type, if-match, etag");
    // …and reads the preflight's allowed methods from JS, cross-origin too: exposed with the WHIP headers
    res.setHeader(
      "access-control-expose-headers",
      "location, etag, link, accept-patch, access-control-allow-methods",
    );
  }
  function links(req, res) {
    const uris = iceServers?.(req) ?? [];
    if (uris.length > 0)
      res.setHeader(
        "link",
        uris.map((uri) => `<${uri}>; rel="ice-server"`),
      );
  }
  function authorize(req) {
    if (expected === undefined) return;
    const given = Buffer.from(req.headers.authorization ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new HttpError(401, "a bearer token is required");
    }
  }
  /** Answers `req` with `status`, for the errors this module throws. */
  function fail(res, error) {
    const status = error instanceof HttpError ? error.status : 500;
    if (status === 500) console.error("WHIP/WHEP request failed:", error);
    if (!res.headersSent) {
      const headers = { "content-type": "text/plain" };
      if (status === 401) headers["www-authenticate"] = "Bearer";
      res.writeHead(status, headers);
    }
    res.end(error instanceof HttpError ? error.message : "internal error");
  }

  async function post(req, res, path) {
    if (mediaType(req) !== SDP) throw new HttpError(415, `the offer must be ${SDP}`);
    const offer = await readBody(req, MAX_WHIP_BODY_BYTES);
    assertOffer(offer);
    if (sessions.size >= MAX_SESSIONS) throw new HttpError(503, `${MAX_SESSIONS} sessions already`);
    let forgotten = false;
    const context = {
      id: newId(path),
      forget() {
        forgotten = true;
        if (sessions.get(context.id)?.path === path) sessions.delete(context.id);
      },
    };
    const session = await endpoints[path](offer, context);
    // The application may name the session itself (the cluster example: the worker that holds it).
    if (session.id !== undefined) context.id = session.id;
    if (forgotten) throw new HttpError(500, "the peer connection closed while answering");
    const entry = { path, session, etag: etag(), remoteUfrag: attribute(offer, "ice-ufrag") };
    const id = context.id;
    sessions.set(id, entry);
    counts.created++;
    counts.offerCandidates += offer.match(/^a=candidate:/gm)?.length ?? 0;
    links(req, res);
    const headers = { "content-type": SDP, location: `${path}/${encodeURIComponent(id)}`, etag: entry.etag };
    if (trickle) headers["accept-patch"] = SDPFRAG;
    res.writeHead(201, headers).end(session.answer);
  }

  async function patch(req, res, entry) {
    const { session } = entry;
    if (!trickle || session.trickle === undefined) {
      throw new HttpError(405, "this endpoint takes no trickled candidates");
    }
    if (mediaType(req) !== SDPFRAG) throw new HttpError(415, `the body must be ${SDPFRAG}`);
    // RFC 9725 §4.3.1: If-Match carries the session's ETag ("*" for an ICE restart). Absent, the request
    // is taken (clients that send it as `ETag` instead exist); present and stale, it is a 412.
    const ifMatch = req.headers["if-match"];
    if (ifMatch !== undefined && ifMatch !== "*" && ifMatch !== entry.etag) {
      throw new HttpError(412, "the ETag does not match the session's");
    }
    const frag = parseSdpFrag(await readBody(req, MAX_WHIP_BODY_BYTES));
    // RFC 8840: new credentials are an ICE restart; the current ones (or none) carry trickled candidates.
    const restart = frag.ufrag !== undefined && frag.ufrag !== entry.remoteUfrag;
    if (!restart) {
      for (const section of frag.media) counts.trickledCandidates += section.candidates.length;
      await session.trickle(frag);
      res.writeHead(204).end();
      return;
    }
    if (session.restartIce === undefined || frag.pwd === undefined) {
      throw new HttpError(422, "an ICE restart needs a new ice-ufrag and ice-pwd");
    }
    counts.iceRestarts++;
    const answer = await session.restartIce(frag);
    entry.etag = etag();
    entry.remoteUfrag = frag.ufrag;
    res.writeHead(200, { "content-type": SDPFRAG, etag: entry.etag }).end(answer);
  }

  return {
    /** The live sessions: id → `{ path, session, etag, remoteUfrag }`. */
    sessions,
    counts,
    /**
     * @param {import("node:http").IncomingMessage} req
     * @param {import("node:http").ServerResponse} res
     * @returns {Promise<boolean>} whether the request was a WHIP/WHEP one (and has been answered)
     */
    async handle(req, res) {
      const url = (req.url ?? "/").split("?")[0];
      const slash = url.lastIndexOf("/");
      const isEndpoint = Object.hasOwn(endpoints, url);
      const parent = slash > 0 ? url.slice(0, slash) : undefined;
      const isResource = !isEndpoint && parent !== undefined && Object.hasOwn(endpoints, parent);
      if (!isEndpoint && !isResource) return false;
      const patchMethod = trickle ? "PATCH, " : "";
      // PATCH is listed on the endpoint too: clients (the eyevinn whip-web-client) look for it there in
      // the preflight to decide whether to trickle.
      cors(res, isEndpoint ? `POST, ${patchMethod}DELETE, OPTIONS` : `${patchMethod}DELETE, OPTIONS`);
      try {
        if (req.method === "OPTIONS") {
          // A CORS preflight, and the (pre-RFC) way to ask for ICE servers.
          links(req, res);
          res.writeHead(204).end();
          return true;
        }
        authorize(req);
        if (isEndpoint) {
          if (req.method !== "POST") throw new HttpError(405, "POST an SDP offer here");
          await post(req, res, url);
          return true;
        }
        let id;
        try {
          id = decodeURIComponent(url.slice(slash + 1));
        } catch {
          throw new HttpError(404, "no such session");
        }
        const entry = sessions.get(id);
        if (entry === undefined || entry.path !== parent) throw new HttpError(404, `no session ${id}`);
        if (req.method === "DELETE") {
          sessions.delete(id);
          counts.deleted++;
          await entry.session.close();
          res.writeHead(200).end();
        } else if (req.method === "PATCH") {
          await patch(req, res, entry);
        } else throw new HttpError(405, "PATCH or DELETE a session");
      } catch (error) {
        fail(res, error);
      }
      return true;
    },
    /** Drops session `id` (its peer connection ended on its own): a DELETE then gets a 404. */
    forget(id) {
      sessions.delete(id);
    },
    /** Closes every session (the application's peer connections). */
    async close() {
      const all = [...sessions.values()];
      sessions.clear();
      await Promise.all(all.map(({ session }) => session.close()));
    },
  };
}

/** `sdp` with its ICE credentials replaced and its candidates removed: a restarted offer. */
export function withCredentials(sdp, ufrag, pwd) {
  return sdp
    .replace(/^a=ice-ufrag:[^\r\n]*/gm, `a=ice-ufrag:${ufrag}`)
    .replace(/^a=ice-pwd:[^\r\n]*/gm, `a=ice-pwd:${pwd}`)
    .replace(/^a=(?:candidate:|end-of-candidates)[^\n]*\n/gm, "");
}

/** The ICE part of `sdp` as an `application/trickle-ice-sdpfrag` (RFC 8840): credentials and candidates. */
export function sdpFragOf(sdp) {
  const keep =
    /^(?:m=|a=(?:group:BUNDLE|ice-lite|ice-options:|mid:|ice-ufrag:|ice-pwd:|candidate:|end-of-candidates))/;
  return `${sdp
    .split(/\r?\n/)
    .filter((line) => keep.test(line))
    .join("\r\n")}\r\n`;
}

/**
 * Answers `offer` with `pc` (a werift RTCPeerConnection, attached to a mux) and returns what a session of
 * `whipEndpoints` needs but `close`: the answer (every server candidate in it), trickled candidates added
 * to the peer connection, and an ICE restart as a re-offer with the new credentials.
 * @param {import("werift").RTCPeerConnection} pc
 * @param {string} offer
 */
export async function answerWithWerift(pc, offer) {
  let remote = offer;
  // max-bundle: one ICE transport, named by the first media section's mid.
  const mid = attribute(offer, "mid");
  const seen = new Set();
  const answer = async (sdp) => {
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    return pc.localDescription.sdp;
  };
  const trickle = async (frag) => {
    for (const section of frag.media) {
      for (const line of section.candidates) {
        // Component 1 is RTP; the eyevinn whip-web-client writes 0 there, which no ICE agent pairs.
        const candidate = line.replace(/^(candidate:\S+) 0 /, "$1 1 ");
        if (seen.has(candidate)) continue; // the same candidate is sent once per media section
        seen.add(candidate);
        await pc.addIceCandidate({ candidate, sdpMid: mid, sdpMLineIndex: 0 });
      }
    }
  };
  return {
    answer: await answer(offer),
    trickle,
    async restartIce(frag) {
      remote = withCredentials(remote, frag.ufrag, frag.pwd);
      seen.clear();
      const sdp = await answer(remote);
      await trickle(frag);
      return sdpFragOf(sdp);
    },
  };
}
