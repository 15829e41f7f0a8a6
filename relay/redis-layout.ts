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
  /**
   * HASH: the v2 prekeys of identity R (prekey_signed): box (the boxPk, 32 raw bytes, that the
   * signatures cover), spk_id, spk_exp (decimal), spk_pk, spk_sig, lr_id (decimal), lr_pk, lr_sig (raw).
   */
  prekeys: (r: string): string => `hush:{${r}}:pk`,
  /** ZSET: member id (decimal), score id: R's unused one-time X25519 prekeys, lowest first. */
  opkIds: (r: string): string => `hush:{${r}}:opk`,
  /** HASH: id -> the one-time X25519 prekey (32 raw bytes). */
  opks: (r: string): string => `hush:{${r}}:opkv`,
  /** ZSET: member id, score id: R's unused one-time ML-KEM-768 prekeys, lowest first. */
  kemIds: (r: string): string => `hush:{${r}}:kem`,
  /** HASH: id -> signature (64 bytes) || ML-KEM-768 public key (1184 bytes). */
  kems: (r: string): string => `hush:{${r}}:kemv`,
  /** ZSET: member R, score its signed prekey's expiry: the expiry purge's index. */
  spkExpiry: 'hush:spk-expiry',
  /**
   * HASH: blob ID's metadata (blob_* tables): up (the uploader, R), bytes, chunk, chunks,
   * created, expires (decimal), done (0 or 1), and per recipient R a field `r:R` = 0 or 1 (acked).
   */
  blob: (id: string): string => `hush:blob:${id}`,
  /** ZSET: member ID, score its expiry: the blobs of uploader R (the uploader quota). */
  blobsUp: (r: string): string => `hush:{${r}}:bup`,
  /** ZSET: member ID, score its expiry: the blobs recipient R has not acked (the recipient quota). */
  blobsFor: (r: string): string => `hush:{${r}}:bfor`,
  /** ZSET: member ID, score its expiry: every blob (the purge's index). */
  blobExpiry: 'hush:blob-expiry',
};

/** KEYS of the prekey scripts for R, in this order (prekeys opkIds opks kemIds kems spkExpiry). */
export const prekeyKeys = (r: string): string[] => [keys.prekeys(r), keys.opkIds(r), keys.opks(r), keys.kemIds(r), keys.kems(r), keys.spkExpiry];

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
 * The Lua lines putBundle and transfer share: `created` starts as ARGV[nowArg]; when the key at
 * KEYS[keyOfKey] already holds a name, that name's `created` is kept and, if it is another name,
 * that name is dropped (a key holds one name).
 */
function keepCreatedDropOtherName(keyOfKey: number, nowArg: number): string {
  return `local created = ARGV[${nowArg}]
local old = redis.call('GET', KEYS[${keyOfKey}])
if old then
  local oldKey = 'hush:{dir}:name:' .. old
  local c = redis.call('HGET', oldKey, 'created')
  if c then created = c end
  if old ~= ARGV[1] then redis.call('DEL', oldKey) end
end
`;
}

/**
 * putBundle: KEYS name key; ARGV name pk bundle now. Returns 0 when another key holds the name
 * (nothing changed); else drops the key's other name, keeps its first `created`, writes the
 * name and the key's entry, returns 1.
 */
export const PUT_BUNDLE_LUA = `
local holder = redis.call('HGET', KEYS[1], 'pk')
if holder and holder ~= ARGV[2] then return 0 end
${keepCreatedDropOtherName(2, 4)}redis.call('HSET', KEYS[1], 'pk', ARGV[2], 'bundle', ARGV[3], 'created', created, 'updated', ARGV[4])
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
${keepCreatedDropOtherName(3, 5)}if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
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

/** Lua: R's status from KEYS (prekey scripts): {opks, kems, spk_id, spk_exp, lr_id}, absent ones nil. */
const PREKEY_STATUS_FN = `
local function status()
  local s = redis.call('HMGET', KEYS[1], 'spk_id', 'spk_exp', 'lr_id')
  return {redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[4]), s[1], s[2], s[3]}
end
`;

/** prekeyStatus: KEYS as prekeyKeys; no ARGV. Returns the status (above). */
export const PREKEY_STATUS_LUA = `${PREKEY_STATUS_FN}
return status()
`;

/**
 * putPrekeys: KEYS as prekeyKeys; ARGV R boxPk cap spkId spkExp spkPk spkSig lrId lrPk lrSig
 * nOpk, then nOpk pairs (id pk), then pairs (id sig||pk) of one-time KEM prekeys; an absent
 * spk or lr is four or three empty strings. Returns {-1} (nothing changed) when a one-time pool
 * would pass cap; else, when the stored prekeys were signed over another boxPk, drops them all;
 * writes spk and lr (replacing), adds the one-time keys whose ids are not stored (the first key
 * with an id stays), returns the status.
 */
export const PREKEY_PUT_LUA = `${PREKEY_STATUS_FN}
local box, cap, nopk = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[11])
local fresh = redis.call('HGET', KEYS[1], 'box') ~= box
local lastOpk = 11 + 2 * nopk
local function count(zkey, from, to)
  local n, seen = 0, {}
  if not fresh then n = redis.call('ZCARD', zkey) end
  for i = from, to, 2 do
    local id = ARGV[i]
    if not seen[id] and (fresh or not redis.call('ZSCORE', zkey, id)) then
      seen[id] = true
      n = n + 1
    end
  end
  return n
end
if count(KEYS[2], 12, lastOpk) > cap or count(KEYS[4], lastOpk + 1, #ARGV) > cap then return {-1} end
if fresh then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
  redis.call('ZREM', KEYS[6], ARGV[1])
end
redis.call('HSET', KEYS[1], 'box', box)
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'spk_id', ARGV[4], 'spk_exp', ARGV[5], 'spk_pk', ARGV[6], 'spk_sig', ARGV[7])
  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[1])
end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'lr_id', ARGV[8], 'lr_pk', ARGV[9], 'lr_sig', ARGV[10]) end
for i = 12, lastOpk, 2 do
  if redis.call('ZADD', KEYS[2], 'NX', ARGV[i], ARGV[i]) == 1 then redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
end
for i = lastOpk + 1, #ARGV, 2 do
  if redis.call('ZADD', KEYS[4], 'NX', ARGV[i], ARGV[i]) == 1 then redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1]) end
end
return status()
`;

/**
 * takeBundle: KEYS as prekeyKeys; ARGV boxPk now oneTime ('1' or '0'). Returns {} (nothing
 * deleted) when no signed prekey over boxPk is unexpired at now, or no KEM prekey is left;
 * else {spk_id, spk_exp, spk_pk, spk_sig, kind ('one-time' | 'last-resort'), kemId, sig||pk}
 * and, when oneTime and one is left, opkId and opk. The one-time keys returned are deleted: the
 * lowest id first; a one-time KEM prekey only when oneTime or there is no last-resort one.
 */
export const PREKEY_TAKE_LUA = `
local s = redis.call('HMGET', KEYS[1], 'box', 'spk_id', 'spk_exp', 'spk_pk', 'spk_sig', 'lr_id', 'lr_pk', 'lr_sig')
if s[1] ~= ARGV[1] or not s[2] or tonumber(s[3]) < tonumber(ARGV[2]) then return {} end
local kind, kid, kval = false, false, false
if ARGV[3] == '1' or not s[6] then
  local m = redis.call('ZPOPMIN', KEYS[4])
  if m[1] then
    kind, kid, kval = 'one-time', m[1], redis.call('HGET', KEYS[5], m[1])
    redis.call('HDEL', KEYS[5], m[1])
  end
end
if not kind and s[6] then kind, kid, kval = 'last-resort', s[6], s[8] .. s[7] end
if not kind then return {} end
local out = {s[2], s[3], s[4], s[5], kind, kid, kval}
if ARGV[3] == '1' then
  local o = redis.call('ZPOPMIN', KEYS[2])
  if o[1] then
    out[8], out[9] = o[1], redis.call('HGET', KEYS[3], o[1])
    redis.call('HDEL', KEYS[3], o[1])
  end
end
return out
`;

/** dropPrekeys: KEYS as prekeyKeys; ARGV R. Deletes everything stored for R. */
export const PREKEY_DROP_LUA = `
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[1])
return 1
`;

/** purgePrekeys: KEYS spkExpiry; ARGV now max. Drops the signed prekeys that expired before now (at most max identities); returns how many index entries it took. */
export const PREKEY_PURGE_LUA = `
local rs = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
for _, r in ipairs(rs) do
  local k = 'hush:{' .. r .. '}:pk'
  local e = redis.call('HGET', k, 'spk_exp')
  if e and tonumber(e) < tonumber(ARGV[1]) then redis.call('HDEL', k, 'spk_id', 'spk_exp', 'spk_pk', 'spk_sig') end
  redis.call('ZREM', KEYS[1], r)
end
return #rs
`;

/** Lua: the bytes of the unexpired blobs in index ZSET k at now (hush:blob:ID `bytes`). */
const BLOB_SUM_FN = `
local function sum(k, now)
  local n = 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', k, '(' .. now, '+inf')) do
    n = n + tonumber(redis.call('HGET', 'hush:blob:' .. id, 'bytes') or '0')
  end
  return n
end
`;

/**
 * blobCreate: KEYS blob blobExpiry blobsUp(U) blobsFor(R)...; ARGV ID U bytes chunk chunks
 * created expires now maxUploader maxRecipient R... Returns {-1, n} (nothing written) when the
 * uploader's unexpired blobs plus this one (n bytes) pass maxUploader, {-2, n} when a
 * recipient's unacked ones would pass maxRecipient; else writes the blob and its three
 * indexes and returns {1}: the quota checks and the write are one step across relays.
 */
export const BLOB_CREATE_LUA = `${BLOB_SUM_FN}
local bytes, now = tonumber(ARGV[3]), ARGV[8]
local mine = sum(KEYS[3], now) + bytes
if mine > tonumber(ARGV[9]) then return {-1, mine} end
for i = 4, #KEYS do
  local theirs = sum(KEYS[i], now) + bytes
  if theirs > tonumber(ARGV[10]) then return {-2, theirs} end
end
redis.call('HSET', KEYS[1], 'up', ARGV[2], 'bytes', ARGV[3], 'chunk', ARGV[4], 'chunks', ARGV[5], 'created', ARGV[6], 'expires', ARGV[7], 'done', 0)
for i = 11, #ARGV do redis.call('HSET', KEYS[1], 'r:' .. ARGV[i], 0) end
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
for i = 3, #KEYS do redis.call('ZADD', KEYS[i], ARGV[7], ARGV[1]) end
return {1}
`;

/** blobAck: KEYS blob blobsFor(R); ARGV ID R. -1 when R is no recipient of a stored blob; else marks R's ack and returns how many recipients have not acked. */
export const BLOB_ACK_LUA = `
local f = 'r:' .. ARGV[2]
if redis.call('HEXISTS', KEYS[1], f) == 0 then return -1 end
redis.call('HSET', KEYS[1], f, 1)
redis.call('ZREM', KEYS[2], ARGV[1])
local left, h = 0, redis.call('HGETALL', KEYS[1])
for i = 1, #h, 2 do
  if string.sub(h[i], 1, 2) == 'r:' and h[i + 1] == '0' then left = left + 1 end
end
return left
`;

/** blobDelete: KEYS blob blobExpiry; ARGV ID. Deletes the blob and its index entries (the uploader's and each recipient's); returns 1, or 0 when there was none. */
export const BLOB_DELETE_LUA = `
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
for i = 1, #h, 2 do
  if h[i] == 'up' then redis.call('ZREM', 'hush:{' .. h[i + 1] .. '}:bup', ARGV[1]) end
  if string.sub(h[i], 1, 2) == 'r:' then redis.call('ZREM', 'hush:{' .. string.sub(h[i], 3) .. '}:bfor', ARGV[1]) end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;

/** blobFinish: KEYS blob; no ARGV. Sets done to 1 when the blob exists. */
export const BLOB_FINISH_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'done', 1) end
return 1
`;
