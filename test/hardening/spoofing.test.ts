/**
 * Spoofing (issue 5, items 1 and 2): an attacker who knows a conn's ufrag (sniffed, or guessed from
 * signalling) but not its ICE password, and who can send from the victim's address, can neither associate
 * that address nor disturb the victim's session; a peer that advertises another peer's address as its own
 * candidate can't keep that peer's traffic once the victim's verified checks arrive.
 *
 * "Sending from the victim's address" is real here: the attacker's socket is bound to the very port the
 * victim sends from (`reuseAddr`), so the mux sees the same source address for both.
 */
import dgram from "node:dgram";
import { once } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type MuxedConnection, UDPMux, type UDPMuxOptions } from "../../src/index.js";
import { bindingRequest, closeAll, MUX_RECV_BUFFER, track } from "../helpers.js";

afterEach(async () => {
  await closeAll();
  vi.useRealTimers();
});

const SERVER_UFRAG = "srvUfrag";
const SERVER_PASSWORD = "serverPassword0123456789"; // ICE passwords are 22–256 chars (RFC 8839 §5.4)

async function bindLoopback(port = 0, reuseAddr = false): Promise<dgram.Socket> {
  const s = track(dgram.createSocket({ type: "udp4", reuseAddr, recvBufferSize: MUX_RECV_BUFFER }));
  s.bind(port, "127.0.0.1");
  await once(s, "listening");
  return s;
}

/** A started mux on a socket the test watches, so it can wait until a datagram has been routed. */
async function watchedMux(options?: UDPMuxOptions) {
  const s = dgram.createSocket({ type: "udp4", recvBufferSize: MUX_RECV_BUFFER });
  s.bind(0, "127.0.0.1");
  await once(s, "listening");
  const m = track(new UDPMux(s, options));
  m.start();
  const to = { address: "127.0.0.1", port: s.address().port };
  const send = async (from: dgram.Socket, data: Buffer) => {
    const routed = once(s, "message"); // after the mux's own listener: routing is done
    from.send(data, to.port, to.address);
    await routed;
  };
  return { m, send, to };
}

/** Every datagram a conn delivers, in push mode. */
function collect(conn: MuxedConnection): Buffer[] {
  const got: Buffer[] = [];
  conn.on("message", (msg) => got.push(msg));
  return got;
}

const data = (text: string) => Buffer.concat([Buffer.from([0x17, 0xfe, 0xfd]), Buffer.from(text)]); // DTLS-like

describe("forged checks with a valid ufrag and a wrong MESSAGE-INTEGRITY", () => {
  it("create no association and leave the victim's later session undisturbed", async () => {
    const { m, send } = await watchedMux();
    const server = m.getConn(SERVER_UFRAG, undefined, { password: SERVER_PASSWORD });
    const got = collect(server);
    const attacker = await bindLoopback(0, true);
    const port = attacker.address().port;

    const username = `${SERVER_UFRAG}:victimUf`;
    await send(attacker, bindingRequest(username, "notTheServerPassword0000")); // wrong key
    await send(attacker, bindingRequest(username)); // no MESSAGE-INTEGRITY at all
    const tampered = bindingRequest(username, SERVER_PASSWORD);
    tampered[tampered.length - 20]! ^= 1; // a flipped bit inside the HMAC (MESSAGE-INTEGRITY, then FINGERPRINT)
    await send(attacker, tampered);
    await send(attacker, data("forged data"));
    expect(got).toEqual([]);
    expect(m.stats()).toMatchObject({ connections: 1, addresses: 0, acceptQueue: 0 });
    expect(m.stats().droppedByReason).toMatchObject({ "integrity-failed": 3, "not-stun": 1 });

    // The victim now sends from that same address: its session works as if nothing happened.
    const victim = await bindLoopback(port, true);
    const check = bindingRequest(username, SERVER_PASSWORD);
    await send(victim, check);
    await send(victim, data("hello"));
    expect(got.map((b) => b.toString("latin1"))).toEqual([
      check.toString("latin1"),
      data("hello").toString("latin1"),
    ]);
    expect(m.stats().addresses).toBe(1);

    // And the server's answers reach the victim's address.
    const reply = once(victim, "message");
    await server.writeTo(Buffer.from("answer"), { address: "127.0.0.1", port });
    expect((await reply)[0].toString()).toBe("answer");
  });

  it("an attacker's first contact for another ufrag from the victim's address is displaced by the victim's verified check", async () => {
    const { m, send } = await watchedMux();
    const server = m.getConn(SERVER_UFRAG, undefined, { password: SERVER_PASSWORD });
    const got = collect(server);
    const attacker = await bindLoopback(0, true);
    const port = attacker.address().port;
    await send(attacker, bindingRequest("decoyUfrag:attacker")); // no password for an unknown ufrag: weak
    expect(m.stats()).toMatchObject({ connections: 2, addresses: 1 });

    const victim = await bindLoopback(port, true);
    await send(victim, bindingRequest(`${SERVER_UFRAG}:victimUf`, SERVER_PASSWORD));
    await send(victim, data("to the server"));
    expect(got.map((b) => b.subarray(3).toString())).toContain("to the server");
    // Unverified checks for the decoy from the same address can't take it back.
    await send(attacker, bindingRequest("decoyUfrag:attacker"));
    await send(victim, data("still mine"));
    expect(got.at(-1)!.subarray(3).toString()).toBe("still mine");
  });
});

describe("a peer advertising another peer's address as its candidate", () => {
  it("can't keep the victim's traffic once the victim's verified checks arrive", async () => {
    const { m, send } = await watchedMux();
    const victimConn = m.getConn(SERVER_UFRAG, undefined, { password: SERVER_PASSWORD });
    const attackerConn = m.getConn("atkUfrag", undefined, { password: "attackerPassword01234567" });
    const toVictim = collect(victimConn);
    const toAttacker = collect(attackerConn);
    const victim = await bindLoopback();
    const victimAddress = { address: "127.0.0.1", port: victim.address().port };

    // The attacker's session checks "its" candidate, which is the victim's address: the mux associates it.
    const probe = once(victim, "message");
    await attackerConn.writeTo(bindingRequest("attackerRemote:atkUfrag", "x".repeat(22)), victimAddress);
    await probe;
    expect(m.stats().addresses).toBe(1);

    // The victim's own verified check moves its address to its own conn, for everything that follows.
    await send(victim, bindingRequest(`${SERVER_UFRAG}:victimUf`, SERVER_PASSWORD));
    for (let i = 0; i < 5; i++) await send(victim, data(`media ${i}`));
    expect(toVictim.slice(1).map((b) => b.subarray(3).toString())).toEqual(
      [0, 1, 2, 3, 4].map((i) => `media ${i}`),
    );
    expect(toAttacker).toEqual([]);

    // Further sends by the attacker's conn to that address don't take it back.
    await attackerConn.writeTo(Buffer.from("again"), victimAddress);
    await send(victim, data("after"));
    expect(toVictim.at(-1)!.subarray(3).toString()).toBe("after");
    expect(toAttacker).toEqual([]);
  });

  it("even the attacker's own verified checks from the victim's address can't move it while the victim is active", async () => {
    vi.useFakeTimers({
      toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout", "Date", "performance"],
    });
    const { m, send } = await watchedMux({ addressIdleMs: 30_000 });
    const victimConn = m.getConn(SERVER_UFRAG, undefined, { password: SERVER_PASSWORD });
    const attackerPassword = "attackerPassword01234567";
    const attackerConn = m.getConn("atkUfrag", undefined, { password: attackerPassword });
    const toVictim = collect(victimConn);
    const toAttacker = collect(attackerConn);
    const victim = await bindLoopback(0, true);
    await send(victim, bindingRequest(`${SERVER_UFRAG}:victimUf`, SERVER_PASSWORD));

    const spoofer = await bindLoopback(victim.address().port, true);
    const attackerCheck = bindingRequest("atkUfrag:attackerRemote", attackerPassword);
    vi.advanceTimersByTime(29_000);
    // A consent check (RFC 7675): only verified checks to the owner count as activity, not data, which
    // anyone able to spoof the victim's address could send.
    await send(victim, bindingRequest(`${SERVER_UFRAG}:victimUf`, SERVER_PASSWORD));
    vi.advanceTimersByTime(29_000);
    await send(spoofer, attackerCheck);
    await send(victim, data("media"));
    expect(toVictim.at(-1)!.subarray(3).toString()).toBe("media");
    expect(toAttacker).toHaveLength(1); // the check itself reaches the conn it names, the address does not move

    // Only after the owner has been silent for addressIdleMs may a verified check move the address.
    vi.advanceTimersByTime(30_000);
    await send(spoofer, attackerCheck);
    await send(spoofer, data("moved"));
    expect(toAttacker.at(-1)!.subarray(3).toString()).toBe("moved");
  });
});
