"""The Lua scripts RedisStore runs: each touches one key, so each is atomic on
the node that holds it, in a cluster too."""

from __future__ import annotations

from typing import Final

#: Applies one save to the hash KEYS[1] atomically, in one round trip.
#: ARGV: ttl, number of keys to set, then key/value pairs, then keys to remove.
#: unpack() is called on chunks because Lua's stack is limited (~8000 values).
SAVE: Final = """
local key = KEYS[1]
local last_set = 2 + 2 * tonumber(ARGV[2])
local i = 3
while i <= last_set do
  local j = math.min(i + 999, last_set)
  redis.call('HSET', key, unpack(ARGV, i, j))
  i = j + 1
end
while i <= #ARGV do
  local j = math.min(i + 999, #ARGV)
  redis.call('HDEL', key, unpack(ARGV, i, j))
  i = j + 1
end
redis.call('EXPIRE', key, ARGV[1])
return 0
"""

#: HGETALL KEYS[1] and, when the record is permanent (flag bit ARGV[2] set in
#: its flags: those of the meta field ARGV[6], msgpack ``[flags]``, if any,
#: else the second item of the marker field ARGV[1], msgpack ``[created,
#: flags]``), EXPIRE it to ARGV[3] seconds, capped at created + ARGV[5] - now
#: (ARGV[4]) unless ARGV[5] < 0, and never below 1 second (the backend's
#: lifetime rule). A marker that is not such an array changes nothing: the
#: backend will refuse the record.
LOAD_REFRESHING: Final = """
local record = redis.call('HGETALL', KEYS[1])
local marker = redis.call('HGET', KEYS[1], ARGV[1])
if not marker then return record end
local ok, m = pcall(cmsgpack.unpack, marker)
if not (ok and type(m) == 'table' and type(m[1]) == 'number' and type(m[2]) == 'number') then
  return record
end
local flags = m[2]
local meta = redis.call('HGET', KEYS[1], ARGV[6])
if meta then
  local ok2, f = pcall(cmsgpack.unpack, meta)
  if not (ok2 and type(f) == 'table' and type(f[1]) == 'number') then return record end
  flags = f[1]
end
if math.floor(flags / tonumber(ARGV[2])) % 2 == 1 then
  local ttl = tonumber(ARGV[3])
  local absolute = tonumber(ARGV[5])
  if absolute >= 0 then
    ttl = math.min(ttl, m[1] + absolute - tonumber(ARGV[4]))
  end
  redis.call('EXPIRE', KEYS[1], math.max(math.floor(ttl), 1))
end
return record
"""
