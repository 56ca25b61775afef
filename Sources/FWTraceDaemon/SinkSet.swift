import FWTraceCore
import FWTraceKernel

/// The running sinks, by name: started from the configuration, changed by a reload (replaced
/// when their configuration changed, reopened when it did not: logrotate), stopped last.
final class SinkSet: DaemonService, @unchecked Sendable {
    private let running = Locked<[String: RecordSink]>([:])
    private var configured: [DaemonConfig.Sink]
    private let host: String, session: String, group: UInt32
    private let metrics: DaemonMetrics

    init(_ configured: [DaemonConfig.Sink], host: String, session: String, group: UInt32, metrics: DaemonMetrics) {
        self.configured = configured; self.host = host; self.session = session; self.group = group; self.metrics = metrics
    }

    var current: [String: RecordSink] { running.current }

    func run() throws { for sink in configured { start(sink) } }

    /// Writes what each has queued (bounded by the deadline), then closes them.
    func stop(deadline: Double) {
        for sink in running.withLock({ Array($0.values) }) { sink.stop(deadline: deadline) }
    }

    private func start(_ config: DaemonConfig.Sink) {
        do {
            // A sink logs only trouble (cannot open, unreachable, records lost): warnings.
            let sink = try RecordSink.make(config, host: host, session: session, log: { Daemon.log($0, priority: 4) }, group: group)
            sink.counters = metrics.sinkCounters(config.name)
            try sink.start()
            running.withLock { $0[config.name] = sink }
        } catch {
            Daemon.log("sink \(config.name) could not start: \(error)", priority: 3)
        }
    }

    /// Sinks: replace what changed, reopen what stayed (logrotate).
    func reload(_ new: [DaemonConfig.Sink], deadline: Double) {
        let old = configured
        for sink in old where !new.contains(sink) {
            if let stale = running.withLock({ $0.removeValue(forKey: sink.name) }) { stale.stop(deadline: deadline) }
        }
        for sink in new {
            if old.contains(sink) { running.withLock { $0[sink.name] }?.reopen() } else { start(sink) }
        }
        configured = new
    }

    /// To every running sink (a daemon-wide record: a refused reload).
    func deliverToAll(_ record: OutputRecord) {
        for sink in running.withLock({ Array($0.values) }) { sink.deliver(record) }
    }

    /// What a watch's records go to: a function of the record alone, safe on any thread.
    func output(for watch: DaemonConfig.Watch) -> @Sendable (OutputRecord) -> Void {
        let running = self.running, names = watch.sinks, verdicts = Set(watch.verdicts)
        return { record in
            if record.type == "path", !verdicts.isEmpty, let v = record.verdict, !verdicts.contains(v) { return }
            let targets = running.withLock { all in SinkSet.names(names, running: all).compactMap { all[$0] } }
            for sink in targets { sink.deliver(record) }
        }
    }

    /// The sinks a watch's records go to: those it names that are running, or every running sink
    /// when it names none. Delivery and status both use this.
    static func names(_ named: [String], running: [String: RecordSink]) -> [String] {
        named.isEmpty ? running.keys.sorted() : named.filter { running[$0] != nil }
    }
}
