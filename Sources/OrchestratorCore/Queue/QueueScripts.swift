/// Lua scripts that make each queue transition atomic on the server.
enum QueueScripts {
    /// KEYS: processing, attempts, heartbeat. ARGV: now (ms).
    /// Counts an attempt for the job just moved into `processing` and marks the worker busy.
    /// Returns {attempt, job id (SHA-1 of the payload), last recorded error}.
    static let begin = """
    local job = redis.call('LINDEX', KEYS[1], 0)
    if not job then return {0, '', ''} end
    redis.call('HSET', KEYS[3], 'state', 'busy', 'job_started_at', ARGV[1])
    redis.call('PEXPIRE', KEYS[3], 10000)
    local id = redis.sha1hex(job)
    local n = redis.call('HINCRBY', KEYS[2], id, 1)
    local err = redis.call('HGET', KEYS[2], id .. ':error') or ''
    return {n, id, err}
    """

    /// KEYS: processing, results, attempts, stats, heartbeat. ARGV: result record, job id, jobs done.
    /// Pushes the result and acknowledges in one step. Returns how many jobs were held (0 means
    /// another process recovered the job while this worker was cut off: it may run twice).
    static let complete = """
    local held = redis.call('LLEN', KEYS[1])
    redis.call('DEL', KEYS[1])
    redis.call('LPUSH', KEYS[2], ARGV[1])
    redis.call('HDEL', KEYS[3], ARGV[2], ARGV[2] .. ':error')
    redis.call('HINCRBY', KEYS[4], 'done', 1)
    redis.call('HSET', KEYS[5], 'state', 'idle', 'job_started_at', '', 'jobs_done', ARGV[3])
    redis.call('PEXPIRE', KEYS[5], 10000)
    return held
    """

    /// KEYS: processing, pending, dead, results, attempts, stats, retry, heartbeat.
    /// ARGV: job id, error, attempt, max attempts, dead-letter entry, failed result record,
    /// retry due time in ms (0 = requeue at once), jobs done, a unique tag for the retry entry
    /// (two failed jobs with identical payloads must stay two entries in the sorted set).
    static let fail = """
    local job = redis.call('LINDEX', KEYS[1], 0)
    redis.call('HINCRBY', KEYS[6], 'failed', 1)
    redis.call('HSET', KEYS[8], 'state', 'idle', 'job_started_at', '', 'jobs_done', ARGV[8])
    redis.call('PEXPIRE', KEYS[8], 10000)
    if tonumber(ARGV[3]) >= tonumber(ARGV[4]) then
      redis.call('DEL', KEYS[1])
      redis.call('LPUSH', KEYS[3], ARGV[5])
      redis.call('LPUSH', KEYS[4], ARGV[6])
      redis.call('HDEL', KEYS[5], ARGV[1], ARGV[1] .. ':error')
      redis.call('HINCRBY', KEYS[6], 'dead', 1)
      return 'dead'
    end
    redis.call('HSET', KEYS[5], ARGV[1] .. ':error', ARGV[2])
    if not job then return 'lost' end
    if tonumber(ARGV[7]) > 0 then
      redis.call('ZADD', KEYS[7], ARGV[7], ARGV[9] .. '\\n' .. job)
      redis.call('DEL', KEYS[1])
      return 'delayed'
    end
    redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
    return 'requeued'
    """

    /// KEYS: processing, pending, heartbeat. ARGV: 'force' or ''.
    /// Moves a dead worker's jobs back to the front of the pending list (popped next), element by
    /// element. Without 'force' it refuses while the owner's heartbeat is alive (returns -1).
    static let recover = """
    if ARGV[1] ~= 'force' and redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
    local n = 0
    while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'RIGHT') do n = n + 1 end
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
}
