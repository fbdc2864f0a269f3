/** The parts of the untyped `stun` package (a devDependency: the tests' independent encoder) the tests use. */
declare module "stun" {
  interface StunAttribute {
    type: number;
    value: unknown;
  }
  interface StunMessage {
    type: number;
    transactionId: Buffer;
    addAttribute(type: number, ...args: unknown[]): unknown;
    getAttribute(type: number): StunAttribute | undefined;
    addMessageIntegrity(key: string): boolean;
    addFingerprint(): boolean;
    toBuffer(): Buffer;
  }
  interface Stun {
    constants: {
      STUN_BINDING_REQUEST: number;
      STUN_BINDING_INDICATION: number;
      STUN_BINDING_RESPONSE: number;
      STUN_BINDING_ERROR_RESPONSE: number;
      STUN_ATTR_USERNAME: number;
      STUN_ATTR_XOR_MAPPED_ADDRESS: number;
      STUN_ATTR_MAPPED_ADDRESS: number;
      STUN_ATTR_ERROR_CODE: number;
      STUN_ATTR_MESSAGE_INTEGRITY: number;
      STUN_ATTR_FINGERPRINT: number;
      STUN_ATTR_PRIORITY: number;
      STUN_ATTR_USE_CANDIDATE: number;
      STUN_ATTR_ICE_CONTROLLING: number;
      STUN_ATTR_SOFTWARE: number;
      [name: string]: number | undefined;
    };
    createMessage(type: number, transactionId?: Buffer): StunMessage;
    decode(buf: Buffer): StunMessage;
    validateFingerprint(message: StunMessage): boolean;
  }
  const stun: Stun;
  export default stun;
}
