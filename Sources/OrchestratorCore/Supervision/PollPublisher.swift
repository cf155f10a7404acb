import Foundation
import Logging

/// The publish step of a poll: the alert rules and their delivery (the leader), the history
/// (the leader), the instance record (the leader), and `/metrics`. It owns those components;
/// the Supervisor passes its state in as a `Snapshot` value.
final class PollPublisher {
    /// The Supervisor's state as the publish step sees it.
    struct Snapshot {
        let states: [String: SupervisedQueue]
        let workers: [SupervisedWorker]
        let reading: PollReading
        let redisReadable: Bool
        let isDraining: Bool
    }

    let settings: OrchestratorSettings
    let link: RedisLink
    let logger: Logger
    let alerts: AlertDelivery
    private var history: HistoryRecorder
    /// Worker starts, exits and poll times, and the text of `/metrics`.
    var counters = MetricsPublisher()
    /// Where `/metrics` reads from, when `--metrics-listen` is set.
    var metrics: MetricsBox?
    /// Who we are, in the instance record.
    let pid: Int32, host: String, startedAt: Int64

    init(settings: OrchestratorSettings, link: RedisLink, logger: Logger, environment: [String: String], pid: Int32, host: String, startedAt: Int64) {
        (self.settings, self.link, self.logger, self.pid, self.host, self.startedAt) = (settings, link, logger, pid, host, startedAt)
        alerts = AlertDelivery(settings: settings, host: host, logger: logger, environment: environment)
        history = HistoryRecorder(prefix: settings.job.prefix, retention: settings.historyRetention)
    }

    private func jobsPerMinute(_ q: String, _ s: Snapshot) -> (one: Double?, five: Double?, fifteen: Double?)? {
        history.jobsPerMinute(q, done: QueueStats(fields: s.reading.stats[q] ?? [:]).done)
    }

    /// `/metrics` (no-op without `--metrics-listen`): the metrics publisher renders the values passed in.
    func publishMetrics(_ s: Snapshot) {
        guard let metrics else { return }
        let values = MetricsPublisher.Values(settings: settings, states: s.states, workers: s.workers, reading: s.reading,
                                             jobsPerMinute: { self.jobsPerMinute($0, s) },
                                             activeAlerts: Set(alerts.engine.active.map { "\($0.rule.rawValue):\($0.queue)" }), redisUp: s.redisReadable, isDraining: s.isDraining)
        metrics.update(text: counters.text(values, processMetrics: ProcessMetrics.add(to:)), healthy: s.redisReadable && !s.isDraining)
    }

    /// Runs the alert rules on this poll's state (`AlertDelivery`) and writes what they deliver.
    func evaluateAlerts(_ s: Snapshot, now: ContinuousClock.Instant, events: inout EventLog, keyFaults: inout KeyFaults) {
        let observed = s.redisReadable ? AlertDelivery.observations(settings: settings, states: s.states, workers: s.workers, reading: s.reading, now: now) : []
        let commands = alerts.evaluate(now: now, redisReadable: s.redisReadable, queues: observed, events: &events)
        if s.redisReadable, !commands.isEmpty, keyFaults.pipeline(commands, on: link, skipped: "alert not published", exempt: nil, logger: logger) != nil {
            alerts.written()
        }
    }

    /// Writes `orchestrator:<prefix>instance` (`InstanceRecord`).
    func writeInstance(_ s: Snapshot, fleet: FleetView, keyFaults: inout KeyFaults) {
        let record = InstanceRecord(settings: settings, pid: pid, host: host, startedAt: startedAt, isDraining: s.isDraining, fleet: fleet,
                                    states: s.states, workers: s.workers, jobsPerMinute: { self.jobsPerMinute($0, s) })
        keyFaults.pipeline(record.commands(settings: settings, states: s.states), on: link,
                           skipped: "not written; `status` reads the workers' heartbeats instead", exempt: nil, logger: logger)
    }

    /// Feeds each queue's sample to the history; writes the finished minutes in one round trip.
    func recordHistory(_ s: Snapshot, keyFaults: inout KeyFaults) {
        let readings = HistoryRecorder.readings(queues: settings.queues, states: s.states, workers: s.workers, reading: s.reading)
        let commands = history.record(readings, wallMilliseconds: WallClock.nowMilliseconds())
        if !commands.isEmpty { keyFaults.pipeline(commands, on: link, skipped: "history sample not written", exempt: nil, logger: logger) }
    }
}
