// The workaround for a werift RTCP routing bug that leaves an SFU's viewers frozen after a lost keyframe.
import { PictureLossIndication, RtcpPayloadSpecificFeedback } from "werift";

/**
 * Hands `pc`'s RTCRtpSenders the Picture Loss Indications (RFC 4585 §6.3.1) that werift gave to a
 * receiver instead, so `sender.onPictureLossIndication` fires for every keyframe request about a stream
 * the server sends.
 *
 * The bug (werift 0.25.2 and 0.24.4, `RtpRouter.routeRtcp` in `lib/webrtc/src/media/router.js`): payload-
 * specific feedback goes to `ssrcTable[senderSsrc] || ssrcTable[mediaSsrc]`, the owner of the packet's
 * *sender* SSRC first. A browser that also sends media on the peer connection signs its feedback with one
 * of its own outgoing SSRCs, which werift registered to its RTCRtpReceiver; so a PLI about the server's
 * outgoing video (media SSRC: ours) lands on `receiver.onRtcp`, the sender's `pliCount` stays 0, and a
 * viewer that lost a keyframe waits for one forever. werift delivers each feedback packet to one owner
 * only, so a PLI reaches a sender either through werift or through this function, never both.
 *
 * Drop this function once werift routes feedback by its media SSRC.
 *
 * @param {import("werift").RTCPeerConnection} pc
 * @returns {{ forwarded: number }} a live count of the PLIs this workaround delivered
 */
export function forwardMisroutedPli(pc) {
  const counter = { forwarded: 0 };
  const watched = new WeakSet();
  /** @param {import("werift").RTCRtpTransceiver} transceiver */
  const watch = ({ receiver }) => {
    if (watched.has(receiver)) return;
    watched.add(receiver);
    receiver.onRtcp.subscribe((packet) => {
      if (packet.type !== RtcpPayloadSpecificFeedback.type) return;
      if (packet.feedback.count !== PictureLossIndication.count) return;
      const sender = pc.getSenders().find((s) => s.ssrc === packet.feedback.mediaSsrc);
      if (sender === undefined) return; // about the browser's own stream: the receiver's business
      counter.forwarded++;
      sender.handleRtcpPacket(packet);
    });
  };
  for (const transceiver of pc.getTransceivers()) watch(transceiver);
  pc.onTransceiverAdded.subscribe(watch);
  pc.onRemoteTransceiverAdded.subscribe(watch);
  return counter;
}
