/// Lua scripts that keep the fleet's membership and slot leases atomic on the server. Key names
/// are built inside from the prefixes passed in ARGV (one Redis, no cluster).
///
/// - Membership: the hash `<ns>fleet:members`, one field per host id holding its member record,
///   JSON beginning `{"expires_at":<server ms>,"instance":"…","caps":"…",` (the script writes
///   these three; the rest is the host's own, `MemberInfo`). A record whose `expires_at` has passed
///   is ignored by every reader and removed by the next renewal or join of any host.
/// - A lease is the string key `<ns>fleet:slot:<n>` (n = 1…max-total) holding
///   `<host id>\n<instance>\n<queue>` with an expiry: workers read it (`LeaseFence`). Beside it,
///   the sorted set `<ns>fleet:leases` (member `<n>\n<lease value>`, score its expiry in server ms)
///   and the hash `<ns>fleet:counts` (`q:<queue>` and `i:<host id>\n<instance>` → live leases) let
///   a renewal read the fleet's counts in one command instead of every slot key. Every script that
///   writes a lease keeps the three together; a renewal drops the expired entries (and their
///   counts) and rebuilds the counts from the set when their sum differs from its size.
///
/// These keys hold no job and only these scripts write them: one of the wrong type (someone wrote
/// to it) is read as absent and replaced, with its name and error in the reply (`repaired`), so a
/// stray write never fails a renewal after its first writes nor stops a host from joining. A slot
/// key of the wrong type reads as free (MGET) and is overwritten by the next lease.
enum FleetScripts {
    /// Helpers shared by the scripts: server time, the count fields of a lease, the sweep of
    /// expired lease entries, a member record's head.
    static let common = """
    local function nowMs() local t = redis.call('TIME'); return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
    local function count(ck, val, d, tally)
      local host, inst, q = string.match(val, '^([^\\n]*)\\n([^\\n]*)\\n(.*)$')
      if not q then return end
      for _, f in ipairs({'q:' .. q, 'i:' .. host .. '\\n' .. inst}) do
        local v = redis.pcall('HINCRBY', ck, f, d)
        if type(v) == 'table' then redis.call('DEL', ck); return end -- wrong type: rebuilt by the next renewal
        if v <= 0 then redis.call('HDEL', ck, f) end
        if tally then tally[f] = (v > 0) and v or nil end
      end
    end
    local function sweep(lk, ck, sp, now, tally)
      local stale = redis.pcall('ZRANGEBYSCORE', lk, '-inf', now, 'LIMIT', 0, 100)
      if stale.err then redis.call('DEL', lk, ck); return lk .. '\\n' .. stale.err end
      for _, m in ipairs(stale) do
        local slot, val = string.match(m, '^(%d+)\\n(.*)$')
        if not slot or redis.pcall('GET', sp .. slot) ~= val then
          redis.call('ZREM', lk, m)
          if slot then count(ck, val, -1, tally) end
        end
      end
      return nil
    end
    local function head(rec)
      local exp, inst, caps = string.match(rec, '^{"expires_at":(%d+),"instance":"([^"]*)","caps":"([^"]*)"')
      return tonumber(exp), inst, caps
    end
    local function record(exp, inst, caps, body)
      local rest = string.sub(body, 2)
      local h = '{"expires_at":' .. string.format('%d', exp) .. ',"instance":"' .. inst .. '","caps":"' .. caps .. '"'
      if rest == '' or rest == '}' then return h .. '}' end
      return h .. ',' .. rest
    end

    """

    /// KEYS: members hash, epoch (created if absent). ARGV: instance, TTL ms, caps, instance it
    /// may replace ('' = none), host id, member body (JSON object). Joins unless another live
    /// instance holds the host id ({'held', its record}) or a live host runs different caps
    /// ({'caps', id, caps}); expired records are removed.
    static let join = common + """
    local inst, ttl, caps, replacing, me = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
    local repaired = {}
    local all = redis.pcall('HGETALL', KEYS[1])
    if all.err then repaired[#repaired + 1] = KEYS[1] .. '\\n' .. all.err; redis.call('DEL', KEYS[1]); all = {} end
    local now, stale = nowMs(), {}
    for i = 1, #all, 2 do
      local id, rec = all[i], all[i + 1]
      local exp, holder, theirs = head(rec)
      if not exp or exp <= now then
        if id ~= me then stale[#stale + 1] = id end
      elseif id == me then
        if holder ~= inst and holder ~= replacing then return {'held', rec} end
      elseif theirs ~= caps then
        return {'caps', id, theirs}
      end
    end
    if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
    redis.call('HSET', KEYS[1], me, record(now + ttl, inst, caps, ARGV[6]))
    if KEYS[2] then redis.call('SET', KEYS[2], '1', 'NX') end
    return {'ok', repaired}
    """

    /// One renewal and view, in a constant number of commands whatever the number of hosts, queues
    /// and slots (plus two per lease of ours). A lease of ours whose key is gone (Redis restarted
    /// without persistence) is taken again: our workers never outlive their leases (the fence
    /// watchdog), so a missing key was not expired under a live worker; one held by another host
    /// is lost. A host whose record is gone while the epoch key (`<ns>fleet:epoch`, written at
    /// join, no expiry) is gone too learns that Redis lost the fleet's keys (restarted without
    /// persistence, FLUSHALL): it opens the reclaim window (`<ns>fleet:reclaim`, expiring after one
    /// TTL), during which every host takes back its own running workers' leases here and no host
    /// takes a new slot (`acquire`), so no host claims a slot another host's worker still runs in.
    /// (Epoch and reclaim are passed only by a host that has renewed before: a first renewal
    /// without a join, as in tests, finds nothing lost.)
    /// KEYS: members, leases set, counts[, epoch, reclaim]. ARGV: instance, TTL ms, slot key prefix,
    /// host id, caps, member body, number of leases n, then n pairs (slot number, expected value).
    /// Returns {'taken', other instance} when another live instance holds our host id, else
    /// {'ok', rejoined (0/1), lost slot numbers, {id, record}… of the live hosts (ours included),
    /// counts {field, n}…, repaired keys, reset (1: the fleet's keys were lost; we rejoined inside
    /// the reclaim window)[, 1: membership only]}.
    /// n = -1: membership only (an idle host, holding no lease): no lease sweep, no counts read,
    /// the epoch checked only when our record was gone: TIME, HGETALL, HSET (4 commands with the
    /// EVALSHA instead of 8), so idle hosts add little to an idle fleet's load.
    static let tick = common + """
    local mk, lk, ck = KEYS[1], KEYS[2], KEYS[3]
    local inst, ttl, sp, me, caps, n = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[7])
    local repaired = {}
    local all = redis.pcall('HGETALL', mk)
    if all.err then repaired[#repaired + 1] = mk .. '\\n' .. all.err; redis.call('DEL', mk); all = {} end
    local now, hosts, stale, cur = nowMs(), {}, {}, nil
    for i = 1, #all, 2 do
      local id, rec = all[i], all[i + 1]
      local exp, holder = head(rec)
      if exp and exp > now then
        if id == me then cur = holder else hosts[#hosts + 1] = {id, rec} end
      elseif id ~= me then
        stale[#stale + 1] = id
      end
    end
    if cur and cur ~= inst then return {'taken', cur} end
    local rejoined, reset = 0, 0
    if not cur then rejoined = 1 end
    if KEYS[4] and (n >= 0 or rejoined == 1) and redis.call('EXISTS', KEYS[4]) == 0 then
      reset = rejoined
      if rejoined == 1 then redis.call('SET', KEYS[5], me, 'PX', ttl) end
      redis.call('SET', KEYS[4], '1')
    elseif KEYS[5] and rejoined == 1 and redis.call('EXISTS', KEYS[5]) == 1 then
      reset = 1
    end
    local mine = record(now + ttl, inst, caps, ARGV[6])
    redis.call('HSET', mk, me, mine)
    hosts[#hosts + 1] = {me, mine}
    if #stale > 0 then redis.call('HDEL', mk, unpack(stale)) end
    if n < 0 then return {'ok', rejoined, {}, hosts, {}, repaired, reset, 1} end
    local bad = sweep(lk, ck, sp, now, nil)
    if bad then repaired[#repaired + 1] = bad end
    local lost = {}
    if n > 0 then
      local keys, entries = {}, {}
      for j = 1, n do keys[j] = sp .. ARGV[6 + 2 * j] end
      local vals = redis.call('MGET', unpack(keys))
      for j = 1, n do
        local slot, want = ARGV[6 + 2 * j], ARGV[7 + 2 * j]
        if vals[j] == want then
          redis.call('PEXPIRE', keys[j], ttl)
        elseif not vals[j] then
          redis.call('SET', keys[j], want, 'PX', ttl)
        else
          lost[#lost + 1] = tonumber(slot)
          if redis.call('ZREM', lk, slot .. '\\n' .. want) == 1 then count(ck, want, -1, nil) end
        end
        if vals[j] == want or not vals[j] then
          entries[#entries + 1] = string.format('%d', now + ttl)
          entries[#entries + 1] = slot .. '\\n' .. want
        end
      end
      if #entries > 0 then redis.call('ZADD', lk, unpack(entries)) end
    end
    local counts = redis.pcall('HGETALL', ck)
    if counts.err then repaired[#repaired + 1] = ck .. '\\n' .. counts.err; redis.call('DEL', ck); counts = {} end
    local sum = 0
    for i = 1, #counts, 2 do if string.sub(counts[i], 1, 2) == 'q:' then sum = sum + tonumber(counts[i + 1]) end end
    if redis.call('ZCARD', lk) ~= sum then -- a lease added under a live key, or a counts hash lost: counted again
      local tally = {}
      for _, m in ipairs(redis.call('ZRANGE', lk, 0, -1)) do
        local host, ins, q = string.match(m, '^%d+\\n([^\\n]*)\\n([^\\n]*)\\n(.*)$')
        if q then
          for _, f in ipairs({'q:' .. q, 'i:' .. host .. '\\n' .. ins}) do tally[f] = (tally[f] or 0) + 1 end
        end
      end
      redis.call('DEL', ck)
      counts = {}
      for f, v in pairs(tally) do counts[#counts + 1] = f; counts[#counts + 1] = tostring(v) end
      if #counts > 0 then redis.call('HSET', ck, unpack(counts)) end
    end
    return {'ok', rejoined, lost, hosts, counts, repaired, reset}
    """

    /// KEYS: reclaim key, leases set, counts. ARGV: slot key prefix, max total, lease value, queue,
    /// max per queue, how many, TTL ms, our host id's lease prefix (`<host id>\\n`), our
    /// instance's (`<host id>\\n<instance>\\n`). Takes free slots while the queue's fleet count
    /// stays within max per queue, none while the reclaim window is open. Reads every slot key
    /// (MGET in 500s): the counts are kept for the renewals, this decision reads the truth.
    /// Returns {slot numbers taken (maybe fewer than asked, maybe none), why fewer ('' | 'reclaim'
    /// | 'max_per_queue' | 'max_total'), ms left of what we wait for (the reclaim window; with
    /// 'max_total', the longest-lived lease of an earlier instance of our host id, or -1)}.
    static let acquire = common + """
    local sp, maxTotal, val, suffix = ARGV[1], tonumber(ARGV[2]), ARGV[3], '\\n' .. ARGV[4]
    local perQueue, want, ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
    local left = redis.call('PTTL', KEYS[1])
    if left > 0 then return {{}, 'reclaim', left} end
    if left == -1 then redis.call('DEL', KEYS[1]) end -- a stray key without expiry (ours always has one)
    local now = nowMs()
    sweep(KEYS[2], KEYS[3], sp, now, nil)
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
      if type(redis.pcall('ZADD', KEYS[2], string.format('%d', now + ttl), free[j] .. '\\n' .. val)) == 'table' then redis.call('DEL', KEYS[2], KEYS[3]) end
      count(KEYS[3], val, 1, nil)
      got[#got + 1] = free[j]
    end
    local why = ''
    if #got < want then
      if perQueue - inQueue < math.min(want, #free) then why = 'max_per_queue' else why = 'max_total' end
    end
    return {got, why, stale}
    """

    /// KEYS: leases set, counts. ARGV: slot key prefix, then (slot number, expected value) pairs.
    /// Deletes each lease still ours. Returns how many were.
    static let release = common + """
    local released = 0
    for j = 2, #ARGV, 2 do
      local key = ARGV[1] .. ARGV[j]
      if redis.call('GET', key) == ARGV[j + 1] then redis.call('DEL', key); released = released + 1 end
      local gone = redis.pcall('ZREM', KEYS[1], ARGV[j] .. '\\n' .. ARGV[j + 1])
      if type(gone) == 'table' then redis.call('DEL', KEYS[1], KEYS[2]) elseif gone == 1 then count(KEYS[2], ARGV[j + 1], -1, nil) end
    end
    return released
    """

    /// KEYS: members, epoch. ARGV: instance, host id. Leaves the fleet if still ours; the last
    /// live host to leave removes the members hash and the epoch key too (no fleet key is left behind).
    static let leave = common + """
    local rec = redis.pcall('HGET', KEYS[1], ARGV[2])
    if type(rec) ~= 'string' then return 0 end
    local _, holder = head(rec)
    if holder ~= ARGV[1] then return 0 end
    redis.call('HDEL', KEYS[1], ARGV[2])
    local now, live = nowMs(), 0
    local all = redis.call('HGETALL', KEYS[1])
    for i = 2, #all, 2 do
      local exp = head(all[i])
      if exp and exp > now then live = live + 1 end
    end
    if live == 0 then
      redis.call('DEL', KEYS[1])
      if KEYS[2] then redis.call('DEL', KEYS[2]) end
    end
    return 1
    """
}
