/**
 * Offers as a browser without media permission and without a STUN server sends them: every candidate's
 * address hidden behind an mDNS name (`<uuid>.local`), or no candidate at all, and `a=end-of-candidates` in
 * every media section. Shared by the werift tests and the interop suite.
 */
import { randomUUID } from "node:crypto";

const CANDIDATE = "a=candidate:";
const END_OF_CANDIDATES = "a=end-of-candidates";

/** `sdp` with its candidate lines mapped by `map` (dropped where it returns undefined) and end-of-candidates in every media section. */
function rewrite(sdp: string, map: (line: string) => string | undefined): string {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines = sdp.split(/\r?\n/);
  const trailing = lines.at(-1) === "" ? lines.pop() : undefined;
  const out: string[] = [];
  let inMedia = false;
  for (const line of lines) {
    if (line === END_OF_CANDIDATES) continue; // added once per section below
    if (line.startsWith("m=")) {
      if (inMedia) out.push(END_OF_CANDIDATES);
      inMedia = true;
    }
    if (line.startsWith(CANDIDATE)) {
      const mapped = map(line);
      if (mapped !== undefined) out.push(mapped);
      continue;
    }
    out.push(line);
  }
  if (inMedia) out.push(END_OF_CANDIDATES);
  if (trailing !== undefined) out.push(trailing);
  return out.join(eol);
}

/** The offer with every candidate's address replaced by an mDNS name (one per address), plus end-of-candidates. */
export function mdnsOffer(sdp: string): string {
  const names = new Map<string, string>();
  return rewrite(sdp, (line) => {
    // a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
    const fields = line.split(" ");
    const address = fields[4]!;
    let name = names.get(address);
    if (name === undefined) {
      name = `${randomUUID()}.local`;
      names.set(address, name);
    }
    fields[4] = name;
    return fields.join(" ");
  });
}

/** The offer with no candidate line at all, plus end-of-candidates. */
export function candidatelessOffer(sdp: string): string {
  return rewrite(sdp, () => undefined);
}

/** The `a=candidate:` lines of an SDP. */
export function candidateLines(sdp: string): string[] {
  return sdp.split(/\r?\n/).filter((line) => line.startsWith(CANDIDATE));
}
