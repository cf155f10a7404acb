/// Lua scripts that make each queue transition atomic on the server.
enum QueueScripts {
    /// KEYS: processing, results, stats, pending[, result by id]. ARGV: result record, the job's
    /// element as popped, '1' to take the next job, the result-by-id TTL in ms.
    /// Pushes the result and acknowledges in one step (LREM of this job's element, LPUSH of the
    /// result, HINCRBY of `done`), and with '1' moves the next pending job into the processing
    /// list in the same round trip: with the pop, five commands per job in all. (A worker marks
    /// itself busy in its heartbeat only once a job has run for `Heartbeat.busyAfter` or on its
    /// periodic refresh, and adds the duration histogram to the stats in batches.) LREM, not DEL:
    /// a retry after a lost reply must not remove the job the first run took. Returns {held (1,
    /// or 0 when the job was no longer held: another process recovered it while this worker was
    /// cut off, it may run twice), the next job or false}.
    static let complete = """
    local held = redis.call('LREM', KEYS[1], 1, ARGV[2])
    redis.call('LPUSH', KEYS[2], ARGV[1])
    redis.call('HINCRBY', KEYS[3], 'done', 1)
    if KEYS[5] then redis.call('SET', KEYS[5], ARGV[1], 'PX', ARGV[4]) end
    local nextJob = false
    if ARGV[3] == '1' then nextJob = redis.call('LMOVE', KEYS[4], KEYS[1], 'RIGHT', 'LEFT') end
    return {held, nextJob}
    """

    /// KEYS: processing, pending, dead, results, stats, retry[, result by id].
    /// ARGV: attempt, max attempts, dead-letter entry, failed result record, retry due time in ms
    /// (0 = requeue at once), a unique tag for the retry entry (two failed jobs with identical
    /// payloads must stay two entries in the sorted set), the job's new envelope (`JobEnvelope`
    /// with this attempt counted and its error, its instance id kept), the result-by-id TTL in ms.
    static let fail = """
    local held = redis.call('DEL', KEYS[1])
    redis.call('HINCRBY', KEYS[5], 'failed', 1)
    if held == 0 then return 'lost' end
    if tonumber(ARGV[1]) >= tonumber(ARGV[2]) then
      redis.call('LPUSH', KEYS[3], ARGV[3])
      redis.call('LPUSH', KEYS[4], ARGV[4])
      if KEYS[7] then redis.call('SET', KEYS[7], ARGV[4], 'PX', ARGV[8]) end
      redis.call('HINCRBY', KEYS[5], 'dead', 1)
      return 'dead'
    end
    if tonumber(ARGV[5]) > 0 then
      redis.call('ZADD', KEYS[6], ARGV[5], ARGV[6] .. '\\n' .. ARGV[7])
      return 'delayed'
    end
    redis.call('LPUSH', KEYS[2], ARGV[7])
    return 'requeued'
    """

    /// KEYS: processing, pending, heartbeat. ARGV: 'force' or ''.
    /// Puts back, untouched, what a live worker popped but will not run (drain, refused
    /// outcome): to the front of the pending list. Without 'force' it refuses while the owner's
    /// heartbeat is alive (returns -1).
    static let pushBack = """
    if ARGV[1] ~= 'force' and redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
    local n = 0
    while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'RIGHT') do n = n + 1 end
    return n
    """

    /// KEYS: processing, pending, heartbeat. ARGV: 'force' or ''.
    /// Requeues the jobs of a worker that died (killed, crashed, out of memory) at the front of
    /// the pending list, counting the attempt that was running in each job's envelope (see
    /// `JobEnvelope`, keeping its instance id), so a job that kills its worker every time still
    /// reaches `--max-attempts`.
    /// Without 'force' it refuses while the owner's heartbeat is alive (returns -1).
    static let recoverDead = """
    if ARGV[1] ~= 'force' and redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
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
    /// (a member is `<tag>\\n<payload>`; the tag is dropped).
    static let promote = """
    local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
    for _, member in ipairs(due) do
      redis.call('ZREM', KEYS[1], member)
      local cut = string.find(member, '\\n', 1, true)
      redis.call('RPUSH', KEYS[2], cut and string.sub(member, cut + 1) or member)
    end
    return #due
    """

    /// KEYS: dead, pending. ARGV: the dead entry, its bare payload. Moves one dead job back to the
    /// front of the queue if the entry is still there. Returns 1, or 0 when it was gone.
    static let requeueDead = """
    if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end
    redis.call('RPUSH', KEYS[2], ARGV[2])
    return 1
    """
}
