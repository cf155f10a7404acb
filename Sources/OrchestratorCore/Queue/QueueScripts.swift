/// Lua scripts that make each queue transition atomic on the server.
///
/// Redis does not roll back what a script wrote before an error, so every script checks the keys
/// it will write before its first write (`check`: TYPE, on the rare paths), or writes the job's
/// destination first and reads its failure (`pcall`, on the hot path: no extra command), and
/// removes the job from where it was last. A job key of the wrong type is refused with
/// `WRONGTYPE <key> is a <type>, not a <type>; nothing was written`; a counter key of the wrong
/// type (the stats hash) is skipped and reported in the reply.
enum QueueScripts {
    /// Shared helpers: `check(key, type, …)` returns the refusal for the first key of another type
    /// (nil when all are that type or absent); `refuse(key, type, err)` turns a failed write into
    /// that refusal; `soft(skipped, key, command…)` runs a write whose failure only skips it,
    /// noting `<key>\n<error>` in `skipped`.
    static let prelude = """
    local function refusal(key, t, want)
      return redis.error_reply('WRONGTYPE ' .. key .. ' is a ' .. t .. ', not a ' .. want .. '; nothing was written')
    end
    local function check(...)
      local a = {...}
      for i = 1, #a, 2 do
        local t = redis.call('TYPE', a[i]).ok
        if t ~= 'none' and t ~= a[i + 1] then return refusal(a[i], t, a[i + 1]) end
      end
      return nil
    end
    local function refuse(key, want, err)
      local t = redis.call('TYPE', key).ok
      if t == 'none' or t == want then return redis.error_reply(err) end
      return refusal(key, t, want)
    end
    local function soft(skipped, key, ...)
      local r = redis.pcall(...)
      if type(r) == 'table' and r.err then skipped[#skipped + 1] = key .. '\\n' .. r.err; return nil end
      return r
    end

    """

    /// KEYS: processing, results, stats, pending[, result by id]. ARGV: result record, the job's
    /// element as popped, '1' to take the next job, the result-by-id TTL in ms (a SET, which
    /// replaces a key of any type, so it cannot fail), then for a fenced worker its lease key,
    /// holder and margin (see `fence`: the next job is taken only while the lease is ours).
    /// Pushes the result and acknowledges in one step (LPUSH of the result, HINCRBY of `done`,
    /// LREM of this job's element, last), and with '1' moves the next pending job into the
    /// processing list in the same round trip: with the pop, five commands per job in all. (A
    /// worker marks itself busy in its heartbeat only once a job has run for
    /// `Heartbeat.busyAfter` or on its periodic refresh, and adds the duration histogram to the
    /// stats in batches.) LREM, not DEL: a retry after a lost reply must not remove the job the
    /// first run took. A results key of the wrong type refuses the whole step (the job stays
    /// held); a stats or processing key of the wrong type is skipped. Returns {held (1, or 0 when
    /// the job was no longer held: another process recovered it while this worker was cut off,
    /// it may run twice), the next job or false, skipped keys `<key>\\n<error>`, false or what the
    /// lease key holds when the take was refused (the result is written all the same)}.
    static let complete = prelude + fencePrelude + """
    local pushed = redis.pcall('LPUSH', KEYS[2], ARGV[1])
    if type(pushed) == 'table' and pushed.err then return refuse(KEYS[2], 'list', pushed.err) end
    if KEYS[5] then redis.call('SET', KEYS[5], ARGV[1], 'PX', ARGV[4]) end
    local skipped = {}
    soft(skipped, KEYS[3], 'HINCRBY', KEYS[3], '\(QueueStats.Field.done.rawValue)', 1)
    local held = soft(skipped, KEYS[1], 'LREM', KEYS[1], 1, ARGV[2]) or 0
    local nextJob, lostTo = false, false
    if ARGV[3] == '1' then
      lostTo = fence(ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]) or false
      if not lostTo then
        local moved = redis.pcall('LMOVE', KEYS[4], KEYS[1], 'RIGHT', 'LEFT')
        if type(moved) ~= 'table' then nextJob = moved end
      end
    end
    return {held, nextJob, skipped, lostTo}
    """

    /// The fencing check of a worker started under a fleet slot lease: `fence(key, holder,
    /// margin ms)` returns nil while the lease key holds `holder` with at least `margin` ms to
    /// live (or no expiry), else what the key holds ('' when missing or not a string; `holder`
    /// itself when it is about to expire unrenewed). A key of '' or nil (no lease: a worker
    /// started without a fleet) always passes. A missing lease while the fleet's epoch key is gone
    /// too (Redis lost the fleet's keys: restarted without persistence) or the reclaim window is
    /// open returns `LeaseFence.keysLost`: the take is refused but the worker waits for its
    /// orchestrator to take the lease back instead of exiting. Reads only.
    static let fencePrelude = """
    local function fence(key, holder, margin, epoch, reclaim)
      if not key or key == '' then return nil end
      local v = redis.pcall('GET', key)
      if type(v) ~= 'string' then v = '' end
      if v == '' and epoch and epoch ~= '' and (redis.call('EXISTS', epoch) == 0 or redis.call('EXISTS', reclaim) == 1) then
        return '\\nfleet-keys-lost'
      end
      if v ~= holder then return v end
      local ttl = redis.call('PTTL', key)
      if ttl >= 0 and ttl < tonumber(margin) then return v end
      return nil
    end

    """

    /// KEYS: pending, processing. ARGV: lease key, holder, margin ms, fleet epoch key, reclaim key.
    /// A fenced worker's non-blocking take: refused (nothing written) unless `fence` passes, else
    /// `LMOVE pending processing RIGHT LEFT`. Returns {the job or false, false or what the lease
    /// key holds when refused, the lease's PTTL in ms}.
    static let take = prelude + fencePrelude + """
    local lostTo = fence(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
    if lostTo then return {false, lostTo, 0} end
    local job = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
    return {job, false, redis.call('PTTL', ARGV[1])}
    """

    /// KEYS: processing, pending. ARGV: lease key, holder, margin ms, fleet epoch key, reclaim key, the element BLMOVE just took.
    /// Checks the lease after a blocking take (BLMOVE cannot): when `fence` fails, the element
    /// goes back, untouched, to the front of the pending list (RPUSH: pops take from the right)
    /// and what the lease key holds is returned; false when the lease is ours.
    static let confirm = prelude + fencePrelude + """
    local lostTo = fence(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
    if not lostTo then return false end
    local bad = check(KEYS[1], 'list', KEYS[2], 'list')
    if bad then return bad end
    if redis.call('LREM', KEYS[1], 1, ARGV[6]) == 1 then redis.call('RPUSH', KEYS[2], ARGV[6]) end
    return lostTo
    """

    /// KEYS: processing, pending, dead, results, stats, retry[, result by id].
    /// ARGV: attempt, max attempts, dead-letter entry, failed result record, retry due time in ms
    /// (0 = requeue at once), a unique tag for the retry entry (two failed jobs with identical
    /// payloads must stay two entries in the sorted set), the job's new envelope (`JobEnvelope`
    /// with this attempt counted and its error, its instance id kept), the result-by-id TTL in ms.
    /// Checks the keys of the chosen destination, writes it, counts, and deletes the processing
    /// list last. Returns {outcome, skipped keys}.
    static let fail = prelude + """
    local skipped = {}
    if redis.call('TYPE', KEYS[1]).ok ~= 'list' then
      soft(skipped, KEYS[5], 'HINCRBY', KEYS[5], '\(QueueStats.Field.failed.rawValue)', 1)
      return {'lost', skipped}
    end
    local outcome
    if tonumber(ARGV[1]) >= tonumber(ARGV[2]) then
      local bad = check(KEYS[3], 'list', KEYS[4], 'list')
      if bad then return bad end
      redis.call('LPUSH', KEYS[3], ARGV[3])
      redis.call('LPUSH', KEYS[4], ARGV[4])
      if KEYS[7] then redis.call('SET', KEYS[7], ARGV[4], 'PX', ARGV[8]) end
      outcome = 'dead'
    elseif tonumber(ARGV[5]) > 0 then
      local bad = check(KEYS[6], 'zset')
      if bad then return bad end
      redis.call('ZADD', KEYS[6], ARGV[5], ARGV[6] .. '\\n' .. ARGV[7])
      outcome = 'delayed'
    else
      local bad = check(KEYS[2], 'list')
      if bad then return bad end
      redis.call('LPUSH', KEYS[2], ARGV[7])
      outcome = 'requeued'
    end
    soft(skipped, KEYS[5], 'HINCRBY', KEYS[5], '\(QueueStats.Field.failed.rawValue)', 1)
    if outcome == 'dead' then soft(skipped, KEYS[5], 'HINCRBY', KEYS[5], '\(QueueStats.Field.dead.rawValue)', 1) end
    redis.call('DEL', KEYS[1])
    return {outcome, skipped}
    """

    /// KEYS: processing, pending, heartbeat. ARGV: 'force' or '', then 'elements' to get the
    /// moved elements back instead of their count.
    /// Puts back, untouched (no attempt counted), what a live worker popped but will not run
    /// (drain, refused outcome), or what a worker the orchestrator killed at the drain deadline
    /// held: to the front of the pending list. Without 'force' it refuses while the owner's
    /// heartbeat is alive (returns -1).
    static let pushBack = prelude + """
    if ARGV[1] ~= 'force' and redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
    local bad = check(KEYS[1], 'list', KEYS[2], 'list')
    if bad then return bad end
    local moved = {}
    while true do
      local job = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'RIGHT')
      if not job then break end
      moved[#moved + 1] = job
    end
    if ARGV[2] == 'elements' then return moved end
    return #moved
    """

    /// KEYS: processing, pending, heartbeat. ARGV: 'force' or ''.
    /// Requeues the jobs of a worker that died (killed, crashed, out of memory) at the front of
    /// the pending list, counting the attempt that was running in each job's envelope (see
    /// `JobEnvelope`, keeping its instance id), so a job that kills its worker every time still
    /// reaches `--max-attempts`.
    /// Without 'force' it refuses while the owner's heartbeat is alive (returns -1).
    static let recoverDead = prelude + """
    if ARGV[1] ~= 'force' and redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
    local bad = check(KEYS[1], 'list', KEYS[2], 'list')
    if bad then return bad end
    local marker = '\\030rpa:1 '
    local n = 0
    while true do
      local job = redis.call('RPOP', KEYS[1])
      if not job then break end
      local made, payload, id = 0, job, ''
      if string.sub(job, 1, #marker) == marker then
        local nl = string.find(job, '\\n', #marker + 1, true)
        if nl then
          local header = string.sub(job, #marker + 1, nl - 1)
          local a, l, i = string.match(header, '^(%d+) (%d+) ([%w_%-]+)$')
          if not a then a, l = string.match(header, '^(%d+) (%d+)$') end
          if a and #job - nl >= tonumber(l) and (not i or #i <= 64) then
            made = tonumber(a)
            payload = string.sub(job, nl + 1 + tonumber(l))
            if i then id = ' ' .. i end
          end
        end
      end
      made = made + 1
      local err = 'the worker running attempt ' .. made .. ' died (killed, crashed or out of memory)'
      redis.call('RPUSH', KEYS[2], marker .. made .. ' ' .. #err .. id .. '\\n' .. err .. payload)
      n = n + 1
    end
    return n
    """

    /// KEYS: retry, pending. ARGV: now (ms), limit. Moves due retries to the front of the queue
    /// (a member is `<tag>\\n<payload>`; the tag is dropped). The queue is checked before the first
    /// move (a retry key of the wrong type fails the first read).
    static let promote = prelude + """
    local due = redis.pcall('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
    if due.err then return refuse(KEYS[1], 'zset', due.err) end
    if #due == 0 then return 0 end
    local bad = check(KEYS[2], 'list')
    if bad then return bad end
    for _, member in ipairs(due) do
      redis.call('ZREM', KEYS[1], member)
      local cut = string.find(member, '\\n', 1, true)
      redis.call('RPUSH', KEYS[2], cut and string.sub(member, cut + 1) or member)
    end
    return #due
    """

    /// KEYS: dead, pending. ARGV: the dead entry, its bare payload. Moves one dead job back to the
    /// front of the queue if the entry is still there. Returns 1, or 0 when it was gone.
    static let requeueDead = prelude + """
    local bad = check(KEYS[1], 'list', KEYS[2], 'list')
    if bad then return bad end
    if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end
    redis.call('RPUSH', KEYS[2], ARGV[2])
    return 1
    """
}
