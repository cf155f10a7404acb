/// Lua scripts that keep the fleet's membership and slot leases atomic on the server. Key names
/// are built inside from the prefixes passed in ARGV (one Redis, no cluster). A lease is the
/// string key `<ns>fleet:slot:<n>` (n = 1…max-total) holding `<host id>\n<instance>\n<queue>`
/// with an expiry; a host is the hash `<ns>fleet:host:<id>` with an expiry, listed in the set
/// `<ns>fleet:hosts`.
///
/// These keys hold no job and only these scripts write them: one of the wrong type (someone wrote
/// to it) is read as absent and replaced, with its name and error in the reply (`repaired`), so a
/// stray write never fails a renewal after its first writes nor stops a host from joining. A slot
/// key of the wrong type reads as free (MGET) and is overwritten by the next lease.
enum FleetScripts {
    /// KEYS: host hash, hosts set, epoch (created if absent). ARGV: instance, TTL ms, host key prefix, caps, instance it may
    /// replace ('' = none), host id, then field/value pairs. Joins unless another live instance
    /// holds the host id ({'held', pid, machine, instance}) or a live host runs different caps
    /// ({'caps', id, caps}).
    static let join = """
    local repaired = {}
    local cur = redis.pcall('HMGET', KEYS[1], 'instance', 'pid', 'machine')
    if cur.err then repaired[#repaired + 1] = KEYS[1] .. '\\n' .. cur.err; cur = {false, false, false} end
    if cur[1] and cur[1] ~= ARGV[1] and cur[1] ~= ARGV[5] then return {'held', cur[2] or '', cur[3] or '', cur[1]} end
    local ids = redis.pcall('SMEMBERS', KEYS[2])
    if ids.err then repaired[#repaired + 1] = KEYS[2] .. '\\n' .. ids.err; redis.call('DEL', KEYS[2]); ids = {} end
    for _, id in ipairs(ids) do
      if id ~= ARGV[6] then
        local caps = redis.pcall('HGET', ARGV[3] .. id, 'caps')
        if type(caps) == 'table' then caps = false end
        if not caps then redis.call('SREM', KEYS[2], id)
        elseif caps ~= ARGV[4] then return {'caps', id, caps} end
      end
    end
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], 'instance', ARGV[1], 'caps', ARGV[4], unpack(ARGV, 7))
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    redis.call('SADD', KEYS[2], ARGV[6])
    if KEYS[3] then redis.call('SET', KEYS[3], '1', 'NX') end
    return {'ok', repaired}
    """

    /// One poll's renewal and view. A lease of ours whose key is gone (Redis restarted without
    /// persistence) is taken again: our workers never outlive their leases (the fence watchdog),
    /// so a missing key was not expired under a live worker; one held by another host is lost.
    /// A host whose hash is gone while the epoch key (`<ns>fleet:epoch`, written at join, no expiry)
    /// is gone too learns that Redis lost the fleet's keys (restarted without persistence,
    /// FLUSHALL): it opens the reclaim window (`<ns>fleet:reclaim`, expiring after one TTL),
    /// during which every host takes back its own running workers' leases here and no host
    /// takes a new slot (`acquire`), so no host claims a slot another host's worker still runs in.
    /// (Epoch and reclaim are passed only by a host that has renewed before: a first renewal
    /// without a join, as in tests, finds nothing lost.)
    /// KEYS: host hash, hosts set[, epoch, reclaim]. ARGV: instance, TTL ms, host key prefix, slot key prefix, max total, host id, caps, number of leases n, then n pairs (slot
    /// number, expected value), then field/value pairs for the host hash.
    /// Returns {'taken', other instance} when another instance now holds our host id, else
    /// {'ok', rejoined (0/1), lost slot numbers, hosts {id, capacity, pid, updated_at, state,
    /// workers, machine, started_at, caps}…, every slot's value ('' = free), repaired keys,
    /// reset (1: the fleet's keys were lost; we rejoined inside the reclaim window)}.
    static let tick = """
    local inst, ttl, hp, sp = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
    local maxTotal, me, n = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[8])
    local repaired = {}
    local cur = redis.pcall('HGET', KEYS[1], 'instance')
    if type(cur) == 'table' then repaired[#repaired + 1] = KEYS[1] .. '\\n' .. cur.err; redis.call('DEL', KEYS[1]); cur = false end
    if cur and cur ~= inst then return {'taken', cur} end
    local rejoined, reset = 0, 0
    if not cur then rejoined = 1 end
    if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 0 then
      reset = rejoined
      if rejoined == 1 then redis.call('SET', KEYS[4], me, 'PX', ttl) end
      redis.call('SET', KEYS[3], '1')
    elseif KEYS[4] and rejoined == 1 and redis.call('EXISTS', KEYS[4]) == 1 then
      reset = 1
    end
    redis.call('HSET', KEYS[1], 'instance', inst, 'caps', ARGV[7], unpack(ARGV, 9 + 2 * n))
    redis.call('PEXPIRE', KEYS[1], ttl)
    local added = redis.pcall('SADD', KEYS[2], me)
    if type(added) == 'table' then
      repaired[#repaired + 1] = KEYS[2] .. '\\n' .. added.err
      redis.call('DEL', KEYS[2])
      redis.call('SADD', KEYS[2], me)
    end
    local slots = {}
    for first = 1, maxTotal, 500 do
      local keys = {}
      for i = first, math.min(maxTotal, first + 499) do keys[#keys + 1] = sp .. i end
      for _, v in ipairs(redis.call('MGET', unpack(keys))) do slots[#slots + 1] = v or '' end
    end
    local lost = {}
    for j = 0, n - 1 do
      local slot, want = tonumber(ARGV[9 + 2 * j]), ARGV[10 + 2 * j]
      if slots[slot] == want then
        redis.call('PEXPIRE', sp .. slot, ttl)
      elseif slots[slot] == '' then
        redis.call('SET', sp .. slot, want, 'PX', ttl)
        slots[slot] = want
      else
        lost[#lost + 1] = slot
      end
    end
    local hosts = {}
    for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
      local f = redis.pcall('HMGET', hp .. id, 'capacity', 'pid', 'updated_at', 'state', 'workers', 'machine', 'started_at', 'caps')
      if f.err then repaired[#repaired + 1] = hp .. id .. '\\n' .. f.err; f = {false} end
      if f[1] then
        hosts[#hosts + 1] = {id, f[1], f[2] or '', f[3] or '', f[4] or '', f[5] or '', f[6] or '', f[7] or '', f[8] or ''}
      else
        redis.call('SREM', KEYS[2], id)
      end
    end
    return {'ok', rejoined, lost, hosts, slots, repaired, reset}
    """

    /// KEYS: reclaim key. ARGV: slot key prefix, max total, lease value, queue, max per queue,
    /// how many, TTL ms, our host id's lease prefix (`<host id>\\n`), our instance's
    /// (`<host id>\\n<instance>\\n`). Takes free slots while the
    /// queue's fleet count stays within max per queue, none while the reclaim window is open.
    /// Returns {slot numbers taken (maybe fewer than asked, maybe none), why fewer ('' | 'reclaim'
    /// | 'max_per_queue' | 'max_total'), ms left of what we wait for (the reclaim window; with
    /// 'max_total', the longest-lived lease of an earlier instance of our host id, or -1)}.
    static let acquire = """
    local sp, maxTotal, val, suffix = ARGV[1], tonumber(ARGV[2]), ARGV[3], '\\n' .. ARGV[4]
    local perQueue, want, ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
    if KEYS[1] then
      local left = redis.call('PTTL', KEYS[1])
      if left > 0 then return {{}, 'reclaim', left} end
      if left == -1 then redis.call('DEL', KEYS[1]) end -- a stray key without expiry (ours always has one)
    end
    local mine, ours, stale = ARGV[8] or '', ARGV[9] or '', -1
    local inQueue, free = 0, {}
    for first = 1, maxTotal, 500 do
      local keys = {}
      for i = first, math.min(maxTotal, first + 499) do keys[#keys + 1] = sp .. i end
      for k, v in ipairs(redis.call('MGET', unpack(keys))) do
        if v then
          if string.sub(v, -#suffix) == suffix then inQueue = inQueue + 1 end
          if mine ~= '' and string.sub(v, 1, #mine) == mine and string.sub(v, 1, #ours) ~= ours then
            stale = math.max(stale, redis.call('PTTL', sp .. (first + k - 1)))
          end
        else
          free[#free + 1] = first + k - 1
        end
      end
    end
    local got = {}
    for j = 1, math.min(want, #free, perQueue - inQueue) do
      redis.call('SET', sp .. free[j], val, 'PX', ttl)
      got[#got + 1] = free[j]
    end
    local why = ''
    if #got < want then
      if perQueue - inQueue < math.min(want, #free) then why = 'max_per_queue' else why = 'max_total' end
    end
    return {got, why, stale}
    """

    /// ARGV: slot key prefix, then (slot number, expected value) pairs. Deletes each lease still ours.
    static let release = """
    local released = 0
    for j = 2, #ARGV, 2 do
      local key = ARGV[1] .. ARGV[j]
      if redis.call('GET', key) == ARGV[j + 1] then redis.call('DEL', key); released = released + 1 end
    end
    return released
    """

    /// KEYS: host hash, hosts set, epoch. ARGV: instance, host id. Leaves the fleet if still
    /// ours; the last host to leave removes the epoch key too (no fleet key is left behind).
    static let leave = """
    if redis.call('HGET', KEYS[1], 'instance') == ARGV[1] then
      redis.call('DEL', KEYS[1])
      redis.call('SREM', KEYS[2], ARGV[2])
      if KEYS[3] and redis.call('SCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[3]) end
      return 1
    end
    return 0
    """
}
