/**
 * werift RTCPeerConnection helpers shared by the adapter tests: the parts of a peer connection and a data
 * channel the tests drive (the same in werift 0.24.4 and 0.25.2), awaiting their states, a plain pc on
 * loopback, and the non-trickle offer/answer between two of them.
 */
import { disableWeriftStun, LOOPBACK_PC_CONFIG, type PC_FLAVORS } from "./helpers.js";

/** The parts of werift's RTCDataChannel the tests use. */
export interface Channel {
  readyState: string;
  send(data: string | Buffer): void;
  onMessage: { subscribe(fn: (data: string | Buffer) => void): unknown };
  stateChanged: { subscribe(fn: (state: string) => void): unknown };
}

/** The parts of werift's RTCPeerConnection the tests use. */
export interface PC {
  localDescription: { type: string; sdp: string } | null;
  iceGatheringState: string;
  connectionState: string;
  iceTransports: { connection: unknown }[];
  createDataChannel(label: string): Channel;
  createOffer(options?: { iceRestart?: boolean }): Promise<{ type: string; sdp: string }>;
  createAnswer(): Promise<{ type: string; sdp: string }>;
  setLocalDescription(d: unknown): Promise<unknown>;
  setRemoteDescription(d: unknown): Promise<unknown>;
  iceGatheringStateChange: { subscribe(fn: (s: string) => void): { unSubscribe(): void } };
  connectionStateChange: { subscribe(fn: (s: string) => void): { unSubscribe(): void } };
  onDataChannel: { subscribe(fn: (c: Channel) => void): unknown };
  close(): Promise<void>;
}

/** `RTCPeerConnection` of either werift version under test. */
export type PcConstructor = (typeof PC_FLAVORS)[number]["RTCPeerConnection"];

/** A plain (unmuxed) peer connection gathering on 127.0.0.1 only, werift's STUN default removed. */
export function plainPc(RTCPeerConnection: PcConstructor, config: { iceUseTcp?: boolean } = {}): PC {
  const pc = new RTCPeerConnection({ ...LOOPBACK_PC_CONFIG, ...config });
  disableWeriftStun(pc);
  return pc as unknown as PC;
}

/** Resolves once `pc` has gathered (its local description then carries every candidate). */
export function gathered(pc: PC): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const sub = pc.iceGatheringStateChange.subscribe((s) => {
      if (s !== "complete") return;
      sub.unSubscribe();
      resolve();
    });
  });
}

/** Resolves when `pc` reaches connection state `state`. */
export function connectionState(pc: PC, state: string): Promise<void> {
  if (pc.connectionState === state) return Promise.resolve();
  return new Promise((resolve) => {
    const sub = pc.connectionStateChange.subscribe((s) => {
      if (s !== state) return;
      sub.unSubscribe();
      resolve();
    });
  });
}

/** Resolves with `channel` once it is open. */
export function opened(channel: Channel): Promise<Channel> {
  if (channel.readyState === "open") return Promise.resolve(channel);
  return new Promise((resolve) => channel.stateChanged.subscribe((s) => s === "open" && resolve(channel)));
}

/** The next message `channel` receives, as a string. */
export function nextMessage(channel: Channel): Promise<string> {
  return new Promise((resolve) => {
    let done = false;
    channel.onMessage.subscribe((data) => {
      if (done) return;
      done = true;
      resolve(data.toString());
    });
  });
}

/** How the offer travels to the answerer. */
export interface OfferOptions {
  /** Offer an ICE restart. @default false */
  iceRestart?: boolean;
  /** What the answerer gets instead of the offer's SDP. @default the SDP as it is */
  rewriteOffer?: (sdp: string) => string;
}

/**
 * `offerer` offers and `answerer` answers, non-trickle (each description set once its side has gathered,
 * so it carries every candidate); resolves with the answer, which the offerer has not been given yet.
 */
export async function offerAnswer(
  offerer: PC,
  answerer: PC,
  { iceRestart, rewriteOffer }: OfferOptions = {},
): Promise<{ type: string; sdp: string }> {
  await offerer.setLocalDescription(await offerer.createOffer(iceRestart ? { iceRestart } : undefined));
  await gathered(offerer);
  const offer = offerer.localDescription!;
  await answerer.setRemoteDescription(
    rewriteOffer === undefined ? offer : { type: "offer", sdp: rewriteOffer(offer.sdp) },
  );
  await answerer.setLocalDescription(await answerer.createAnswer());
  await gathered(answerer);
  return answerer.localDescription!;
}

/** {@link offerAnswer}, then the answer to the offerer. */
export async function negotiate(offerer: PC, answerer: PC, options?: OfferOptions): Promise<void> {
  await offerer.setRemoteDescription(await offerAnswer(offerer, answerer, options));
}

/**
 * `offerer` offers a data channel labelled `label`, {@link negotiate}; resolves with both ends' channels
 * once open.
 */
export async function openChannels(
  offerer: PC,
  answerer: PC,
  label = "echo",
): Promise<{ offererChannel: Channel; answererChannel: Channel }> {
  const offererChannel = offerer.createDataChannel(label);
  const answererChannel = new Promise<Channel>((resolve) => answerer.onDataChannel.subscribe(resolve));
  await negotiate(offerer, answerer);
  return {
    offererChannel: await opened(offererChannel),
    answererChannel: await opened(await answererChannel),
  };
}

/** Send `text` on `from`; resolves with what `to` received. */
export async function echo(from: Channel, to: Channel, text: string): Promise<string> {
  const got = nextMessage(to);
  from.send(text);
  return got;
}
