/**
 * The Redis key layout of the shared relay store, and the Lua scripts that change it: the one
 * module that knows these names and byte formats (docs/PROTOCOL.md §7.8, byte-exact). A change
 * here is a format change: bump LAYOUT_VERSION and write it down there.
 *
 * R is a recipient's (mailbox owner's) Ed25519 signing key as 64 lowercase hex digits, H a
 * delivery token's SHA-256 hash as 64 lowercase hex digits. Every key of one mailbox carries the
 * hash tag {R}, and every directory key the tag {dir}, so that on a Redis Cluster each script's
 * per-mailbox keys share a slot; the store-wide keys (hush:bytes, hush:arrivals, hush:tok:H) do
 * not, which is why this store supports one Redis primary (with replicas), not a Cluster.
 */

export const LAYOUT_VERSION = '1';

export const keys = {
  /** STRING: LAYOUT_VERSION, written by the first relay that starts on an empty database. */
  version: 'hush:version',
  /** STRING: envelope bytes waiting over all mailboxes (--max-store-bytes). */
  bytes: 'hush:bytes',
  /** ZSET: member `R eid`, score the arrival time (ms): the TTL purge's index. */
  arrivals: 'hush:arrivals',
  /** HASH: pk (32 raw bytes), bundle (JSON text), created, updated (ms, decimal). */
  name: (name: string): string => `hush:{dir}:name:${name}`,
  /** STRING: the name the key R holds (R registered). */
  key: (r: string): string => `hush:{dir}:key:${r}`,
  /** ZSET: member eid, score seq: the mailbox in order. */
  queue: (r: string): string => `hush:{${r}}:q`,
  /** HASH: eid -> the envelope's bytes as received. */
  env: (r: string): string => `hush:{${r}}:env`,
  /** HASH: eid -> arrival time (ms, decimal). */
  time: (r: string): string => `hush:{${r}}:time`,
  /** HASH: seq (the last seq given in this mailbox), bytes (envelope bytes waiting). */
  counters: (r: string): string => `hush:{${r}}:n`,
  /** ZSET: member H, score its expiry (ms): the mailbox's delivery tokens. */
  tokens: (r: string): string => `hush:{${r}}:tok`,
  /** STRING: `R EXP` (EXP decimal ms), expiring at EXP (PXAT): the mailbox a token hash opens. */
  token: (h: string): string => `hush:tok:${h}`,
};

/** Pub/sub channel: `INSTANCE R SEQ` for each envelope stored (INSTANCE: 16 hex digits of the relay process). */
export const WAKE_CHANNEL = 'hush:wake';

/**
 * insert: KEYS q env time n bytes arrivals key; ARGV eid env time maxCount maxBytes maxStore R instance.
 * Returns 0 when eid already waits (nothing changed), -3 when R holds no name (key R absent),
 * -1 over the mailbox quota, -2 over the store quota (nothing changed), else the new seq
 * (stored, indexed, counted and announced on WAKE_CHANNEL).
 */
export const INSERT_LUA = `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[7]) == 0 then return -3 end
local size = string.len(ARGV[2])
local bytes = tonumber(redis.call('HGET', KEYS[4], 'bytes') or '0')
if redis.call('ZCARD', KEYS[1]) + 1 > tonumber(ARGV[4]) or bytes + size > tonumber(ARGV[5]) then return -1 end
if tonumber(redis.call('GET', KEYS[5]) or '0') + size > tonumber(ARGV[6]) then return -2 end
local seq = redis.call('HINCRBY', KEYS[4], 'seq', 1)
redis.call('HINCRBY', KEYS[4], 'bytes', size)
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('INCRBY', KEYS[5], size)
redis.call('ZADD', KEYS[6], ARGV[3], ARGV[7] .. ' ' .. ARGV[1])
redis.call('PUBLISH', '${WAKE_CHANNEL}', ARGV[8] .. ' ' .. ARGV[7] .. ' ' .. seq)
return seq
`;

/**
 * pull: KEYS q env time; ARGV after notBefore limit maxBytes (-1: none).
 * Returns a flat array seq, eid, time, env per item with seq > after and time > notBefore, in
 * seq order, at most limit items, stopping after the item that passes maxBytes.
 */
export const PULL_LUA = `
local out, n, bytes = {}, 0, 0
local limit, maxb, nb = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[2])
local from = '(' .. ARGV[1]
while n < limit do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], from, '+inf', 'WITHSCORES', 'LIMIT', 0, limit - n)
  if #ids == 0 then break end
  for i = 1, #ids, 2 do
    local eid = ids[i]
    from = '(' .. ids[i + 1]
    local t = redis.call('HGET', KEYS[3], eid)
    if t and tonumber(t) > nb then
      local env = redis.call('HGET', KEYS[2], eid)
      out[#out + 1] = ids[i + 1]
      out[#out + 1] = eid
      out[#out + 1] = t
      out[#out + 1] = env
      n = n + 1
      bytes = bytes + string.len(env)
      if maxb >= 0 and bytes > maxb then return out end
      if n >= limit then return out end
    end
  end
end
return out
`;

/** ack: KEYS q env time n bytes arrivals; ARGV R eid... Deletes those eids of this mailbox only; returns {count, bytes}. */
export const ACK_LUA = `
local count, bytes = 0, 0
for i = 2, #ARGV do
  local eid = ARGV[i]
  local size = redis.call('HSTRLEN', KEYS[2], eid)
  if redis.call('HDEL', KEYS[2], eid) == 1 then
    redis.call('HDEL', KEYS[3], eid)
    redis.call('ZREM', KEYS[1], eid)
    redis.call('ZREM', KEYS[6], ARGV[1] .. ' ' .. eid)
    count = count + 1
    bytes = bytes + size
  end
end
if bytes > 0 then
  redis.call('HINCRBY', KEYS[4], 'bytes', -bytes)
  redis.call('DECRBY', KEYS[5], bytes)
end
return {count, bytes}
`;

/** purge: KEYS arrivals bytes; ARGV cutoff max. Deletes at most max envelopes that arrived at or before cutoff; returns how many index entries it took. */
export const PURGE_LUA = `
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local freed = 0
for _, it in ipairs(items) do
  local sp = string.find(it, ' ', 1, true)
  local eid = string.sub(it, sp + 1)
  local p = 'hush:{' .. string.sub(it, 1, sp - 1) .. '}:'
  local size = redis.call('HSTRLEN', p .. 'env', eid)
  if redis.call('HDEL', p .. 'env', eid) == 1 then
    redis.call('HDEL', p .. 'time', eid)
    redis.call('ZREM', p .. 'q', eid)
    redis.call('HINCRBY', p .. 'n', 'bytes', -size)
    freed = freed + size
  end
  redis.call('ZREM', KEYS[1], it)
end
if freed > 0 then redis.call('DECRBY', KEYS[2], freed) end
return #items
`;

/**
 * putBundle: KEYS name key; ARGV name pk bundle now. Returns 0 when another key holds the name
 * (nothing changed); else drops the key's other name, keeps its first `created`, writes the
 * name and the key's entry, returns 1.
 */
export const PUT_BUNDLE_LUA = `
local holder = redis.call('HGET', KEYS[1], 'pk')
if holder and holder ~= ARGV[2] then return 0 end
local created = ARGV[4]
local old = redis.call('GET', KEYS[2])
if old then
  local oldKey = 'hush:{dir}:name:' .. old
  local c = redis.call('HGET', oldKey, 'created')
  if c then created = c end
  if old ~= ARGV[1] then redis.call('DEL', oldKey) end
end
redis.call('HSET', KEYS[1], 'pk', ARGV[2], 'bundle', ARGV[3], 'created', created, 'updated', ARGV[4])
redis.call('SET', KEYS[2], ARGV[1])
return 1
`;

/**
 * transfer: KEYS name fromKey toKey; ARGV name fromPk toPk bundle now. Returns 0 when fromPk no
 * longer holds the name (nothing changed); else drops the new key's other name (keeping its
 * `created`), frees the old key, writes the name for the new key, returns 1 (§7.2 "Transfer").
 */
export const TRANSFER_LUA = `
if redis.call('HGET', KEYS[1], 'pk') ~= ARGV[2] then return 0 end
local created = ARGV[5]
local old = redis.call('GET', KEYS[3])
if old then
  local oldKey = 'hush:{dir}:name:' .. old
  local c = redis.call('HGET', oldKey, 'created')
  if c then created = c end
  if old ~= ARGV[1] then redis.call('DEL', oldKey) end
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('HSET', KEYS[1], 'pk', ARGV[3], 'bundle', ARGV[4], 'created', created, 'updated', ARGV[5])
redis.call('SET', KEYS[3], ARGV[1])
return 1
`;

/** release: KEYS name key; ARGV pk name. Frees the name if pk holds it (returns 1), else 0. */
export const RELEASE_LUA = `
if redis.call('HGET', KEYS[1], 'pk') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
`;

/**
 * tokens: KEYS tok; ARGV R now nRemove H... (nRemove hashes) then H EXP pairs. Removes, then adds
 * or re-dates (a hash held by another mailbox is left alone), drops expired entries; returns how
 * many unexpired tokens the mailbox has.
 */
export const TOKENS_LUA = `
local r, now, nrem = ARGV[1], ARGV[2], tonumber(ARGV[3])
for i = 4, 3 + nrem do
  local k = 'hush:tok:' .. ARGV[i]
  local v = redis.call('GET', k)
  if v and string.sub(v, 1, 64) == r then redis.call('DEL', k) end
  redis.call('ZREM', KEYS[1], ARGV[i])
end
for i = 4 + nrem, #ARGV, 2 do
  local k = 'hush:tok:' .. ARGV[i]
  local v = redis.call('GET', k)
  if not v or string.sub(v, 1, 64) == r then
    redis.call('SET', k, r .. ' ' .. ARGV[i + 1], 'PXAT', ARGV[i + 1])
    redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
`;
