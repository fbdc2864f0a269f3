// The `stun` package ships no types; the benchmark uses only `decode`.
declare module "stun" {
  interface StunAttribute {
    readonly type: number;
    readonly value: unknown;
  }
  interface StunMessage {
    getAttribute(type: number): StunAttribute | undefined;
  }
  export function decode(message: Buffer): StunMessage;
  const stun: { decode: typeof decode };
  export default stun;
}
