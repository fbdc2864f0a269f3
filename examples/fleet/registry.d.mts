export declare const HEARTBEAT_MS: number;
export declare const NODE_TTL_MS: number;
export declare const SESSION_TTL_MS: number;
export declare function fleetRegistry(redis: unknown, options?: { prefix?: string }): unknown;
