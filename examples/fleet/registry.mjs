// The fleet's shared state in Redis: which nodes are alive (a heartbeat with a TTL), each worker's load,
// where a new session goes (least-loaded live worker of the whole fleet, decided atomically by a script),
// and which node owns a session (for PATCH and DELETE sent to any node).
//
// Keys (PREFIX defaults to `udpmux:fleet`):
//   PREFIX:nodes           SET     node ids; a member whose node key expired is removed by the next placement
//   PREFIX:node:<id>       STRING  JSON { id, url, host, draining, at, workers: [{ index, port, alive, load,
//                                  connections, sessions }] }, PX NODE_TTL_MS, rewritten every HEARTBEAT_MS
//   PREFIX:pending:<id>    HASH    worker index → sessions placed on it since the node's last heartbeat
//                                  (a heartbeat's loads can't count them yet), PX NODE_TTL_MS, reset by it
//   PREFIX:session:<sid>   STRING  owner node id, PX SESSION_TTL_MS, refreshed by the owner's heartbeat,
//                                  deleted when the session ends
// One Redis (or a primary with replicas), not Redis Cluster: the placement script reads keys it is not given.

/** How often a node rewrites its key (and its sessions' TTLs). */
export const HEARTBEAT_MS = 1000;
/** A node that missed this long of heartbeats is dead: its key expires, no session is placed on it. */
export const NODE_TTL_MS = 3000;
/** A session's owner mapping outlives its node by this much at most (lookups also check the node key). */
export const SESSION_TTL_MS = 10_000;

// Least-loaded live worker of every live, non-draining node: load = the node's last reported
// `connections + inFlight` for it, plus the placements since that report. Ties go to the first seen.
const PLACE = `
local prefix, ttl = ARGV[1], ARGV[2]
local best, bestNode, bestWorker, bestUrl
for _, id in ipairs(redis.call('SMEMBERS', prefix .. ':nodes')) do
  local raw = redis.call('GET', prefix .. ':node:' .. id)
  if not raw then
    redis.call('SREM', prefix .. ':nodes', id)
  else
    local node = cjson.decode(raw)
    if not node.draining then
      for _, w in ipairs(node.workers) do
        if w.alive then
          local pending = tonumber(redis.call('HGET', prefix .. ':pending:' .. id, tostring(w.index)) or '0')
          local load = w.load + pending
          if best == nil or load < best then best, bestNode, bestWorker, bestUrl = load, id, w.index, node.url end
        end
      end
    end
  end
end
if best == nil then return nil end
redis.call('HINCRBY', prefix .. ':pending:' .. bestNode, tostring(bestWorker), 1)
redis.call('PEXPIRE', prefix .. ':pending:' .. bestNode, ttl)
return { bestNode, bestWorker, bestUrl }
`;

/**
 * @param {import("redis").RedisClientType} redis a connected client
 * @param {{ prefix?: string }} [options]
 */
export function fleetRegistry(redis, { prefix = "udpmux:fleet" } = {}) {
  const nodes = `${prefix}:nodes`;
  const nodeKey = (id) => `${prefix}:node:${id}`;
  const pendingKey = (id) => `${prefix}:pending:${id}`;
  const sessionKey = (sid) => `${prefix}:session:${sid}`;
  return {
    /**
     * Registers (or refreshes) node `node.id` with its workers' loads, resets its pending placements and
     * extends the TTL of the sessions it owns.
     * @param {{ id: string, url: string, host: string, draining: boolean, workers: object[] }} node
     * @param {Iterable<string>} sessionIds
     */
    async heartbeat(node, sessionIds) {
      const multi = redis
        .multi()
        .set(nodeKey(node.id), JSON.stringify({ ...node, at: Date.now() }), { PX: NODE_TTL_MS })
        .sAdd(nodes, node.id)
        .del(pendingKey(node.id));
      for (const sid of sessionIds) multi.pExpire(sessionKey(sid), SESSION_TTL_MS);
      await multi.exec();
    },
    /** Takes node `id` out of the fleet at once (its sessions' mappings too). */
    async deregister(id, sessionIds) {
      const multi = redis.multi().sRem(nodes, id).del(nodeKey(id)).del(pendingKey(id));
      for (const sid of sessionIds) multi.del(sessionKey(sid));
      await multi.exec();
    },
    /**
     * The least-loaded live worker of the fleet, counted as placed on it.
     * @returns {Promise<{ node: string, worker: number, url: string } | undefined>}
     */
    async place() {
      const reply = await redis.eval(PLACE, { arguments: [prefix, String(NODE_TTL_MS)] });
      if (reply === null) return undefined;
      const [node, worker, url] = reply;
      return { node: String(node), worker: Number(worker), url: String(url) };
    },
    /** Records that node `nodeId` owns session `sid`. */
    async claimSession(sid, nodeId) {
      await redis.set(sessionKey(sid), nodeId, { PX: SESSION_TTL_MS });
    },
    async dropSession(sid) {
      await redis.del(sessionKey(sid));
    },
    /**
     * The live node that owns session `sid`, or undefined (no such session, or its node is dead).
     * @returns {Promise<{ id: string, url: string } | undefined>}
     */
    async owner(sid) {
      const id = await redis.get(sessionKey(sid));
      if (id === null) return undefined;
      const raw = await redis.get(nodeKey(id));
      if (raw === null) return undefined;
      return { id, url: JSON.parse(raw).url };
    },
    /** Every live node's registered view (for /fleet). */
    async nodes() {
      const ids = await redis.sMembers(nodes);
      if (ids.length === 0) return [];
      const raws = await redis.mGet(ids.map(nodeKey));
      return raws.filter((raw) => raw !== null).map((raw) => JSON.parse(raw));
    },
  };
}
