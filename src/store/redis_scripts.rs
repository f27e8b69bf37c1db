//! The Lua scripts the Redis store runs, each a single atomic step on the server: reading a
//! key whole, and deleting or restoring a record only if nobody changed it meanwhile.

/// Reads one key: its type, its contents and its remaining TTL in ms, in one round trip.
pub(super) const READ: &str = r"
local t = redis.call('TYPE', KEYS[1]).ok
local ttl = redis.call('PTTL', KEYS[1])
if t == 'string' then return {t, ttl, redis.call('GET', KEYS[1])} end
if t == 'hash' then return {t, ttl, redis.call('HGETALL', KEYS[1])} end
return {t, ttl}
";

/// The fingerprint of KEYS[1] as [`Stored::fingerprint`] computes it ('' when absent or of
/// another type), shared by the scripts below.
pub(super) const FINGERPRINT: &str = r"
local function fingerprint(key)
  local t = redis.call('TYPE', key).ok
  if t == 'string' then return redis.sha1hex('s:' .. redis.call('GET', key)) end
  if t == 'hash' then
    local flat = redis.call('HGETALL', key)
    local pairs = {}
    for i = 1, #flat, 2 do pairs[#pairs + 1] = flat[i] .. '\0' .. flat[i + 1] end
    table.sort(pairs)
    return redis.sha1hex('h:' .. table.concat(pairs, '\1'))
  end
  return ''
end
";

/// DEL KEYS[1] (and SREM ARGV[2] from the user set KEYS[2]) only if its fingerprint is still
/// ARGV[1]: 1 deleted, 0 missing, -1 changed.
pub(super) const DELETE_IF_SAME: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if fingerprint(KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
if KEYS[2] ~= '' then redis.call('SREM', KEYS[2], ARGV[2]) end
return 1
";

/// Put a record back only if its key is free: ARGV = type, ttl ms (<= 0: none), member, then
/// the string or the hash's field/value pairs. 1 restored, 0 the key exists.
pub(super) const RESTORE_IF_ABSENT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[1] == 'string' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('HSET', KEYS[1], unpack(ARGV, 4))
end
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
if KEYS[2] ~= '' then redis.call('SADD', KEYS[2], ARGV[3]) end
return 1
";
