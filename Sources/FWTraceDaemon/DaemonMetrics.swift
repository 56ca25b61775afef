import FWTraceCore
import FWTraceKernel
import Prometheus

/// The daemon's Prometheus metrics (docs/metrics.md): counters the trace threads and sinks add to
/// as things happen, gauges read at each scrape. The counters are swift-prometheus's (atomic);
/// what needs a lock here is only the map from a deciding rule to its series.
final class DaemonMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    /// Deciding rules that get a series of their own, per watch; later ones are folded.
    let topRules: Int

    /// What decided a path, as its labels say it.
    struct Decider: Hashable {
        var family = "", table = "", chain = "", rule = "", handle = ""
        /// Past the watch's topRules distinct deciders.
        static let folded = Decider(rule: "other")
        /// A path no rule or policy decided (verdict unknown).
        static let none = Decider(rule: "none")

        init(family: String = "", table: String = "", chain: String = "", rule: String, handle: String = "") {
            self.family = family; self.table = table; self.chain = chain; self.rule = rule; self.handle = handle
        }

        init(_ path: PacketPath) {
            guard let step = path.decidingStep else { self = .none; return }
            family = step.tableFamily.rawValue
            table = step.table
            chain = step.chain
            rule = step.kind == .policy || step.kind == .return ? "policy" : step.rule.map(String.init) ?? ""
            handle = step.handle.map(String.init) ?? ""
        }
    }

    private struct PathSeries: Hashable { let watch: String, verdict: String, decider: Decider }
    private struct State {
        var deciders: [String: Set<Decider>] = [:]
        var paths: [PathSeries: Counter] = [:]
    }
    private let state = Locked(State())
    /// The sink gauges the last scrape set, by sink name.
    private let sinkGauges = Locked<[String: [Gauge]]>([:])

    private static let pathsHelp = "Paths a watch traced, by verdict and deciding rule (family, table, chain, rule position or policy, nft handle); a watch's deciding rules past [metrics] top_rules are counted under rule=\"other\""

    init(topRules: Int, version: String) {
        self.topRules = topRules
        registry.makeGauge(name: "fwtrace_build_info", labels: [("version", version)],
                           help: "fwtrace's version (the value is always 1)").set(Int64(1))
    }

    // MARK: - on the trace threads

    /// Counts a watch's record: a path by verdict and decider, a loss by reason.
    func count(_ record: OutputRecord, watch: String) {
        if let path = record.path { count(decider: Decider(path), verdict: path.verdict.rawValue, watch: watch) }
        if let loss = record.loss {
            registry.makeCounter(name: "fwtrace_trace_lost_total",
                                 labels: [("watch", watch), ("reason", loss.reason), ("unit", RecordEncoder.lossUnit(reason: loss.reason))],
                                 help: "What a watch's trace lost before it became paths, by reason (unit: events or packets; docs/output.md, loss)")
                .increment(by: Int64(clamping: loss.count))
        }
    }

    func count(decider seen: Decider, verdict: String, watch: String) {
        let topRules = self.topRules, registry = self.registry
        // One lock: the series' counter is made under it the first time (rare; the registry's
        // own lock is taken inside ours, never the other way round).
        let counter = state.withLock { state -> Counter in
            var decider = seen
            // `none` is one series whatever happens: it takes no rule's slot.
            if seen != .none, state.deciders[watch, default: []].contains(seen) == false {
                if state.deciders[watch, default: []].count < topRules { state.deciders[watch, default: []].insert(seen) } else { decider = .folded }
            }
            let series = PathSeries(watch: watch, verdict: verdict, decider: decider)
            if let counter = state.paths[series] { return counter }
            let made = registry.makeCounter(name: "fwtrace_paths_total", labels: [
                ("watch", watch), ("verdict", verdict), ("family", decider.family), ("table", decider.table),
                ("chain", decider.chain), ("rule", decider.rule), ("handle", decider.handle),
            ], help: Self.pathsHelp)
            state.paths[series] = made
            return made
        }
        counter.increment()
    }

    /// What a watch's sessions report after each batch: events received, rulesets read again.
    func progress(watch: String) -> SessionProgress {
        let events = registry.makeCounter(name: "fwtrace_trace_events_total", labels: [("watch", watch)],
                                          help: "Trace events a watch received from the kernel (nftrace messages, or nfnetlink_log messages on legacy)")
        let reloads = registry.makeCounter(name: "fwtrace_ruleset_reloads_total", labels: [("watch", watch)],
                                           help: "Times a watch's session read the ruleset again (a change, a rule it did not know, legacy's read once a second while tracing)")
        return SessionProgress { e, r in
            if e > 0 { events.increment(by: Int64(e)) }
            if r > 0 { reloads.increment(by: Int64(r)) }
        }
    }

    /// A sink's counters, kept across its restarts on reload (the same series).
    func sinkCounters(_ name: String) -> SinkCounters {
        let help = "Records a sink delivered (written, sent) and dropped (it fell behind or was unreachable); produced = delivered + dropped + queued"
        return SinkCounters(delivered: registry.makeCounter(name: "fwtrace_sink_records_total", labels: [("sink", name), ("outcome", "delivered")], help: help),
                            dropped: registry.makeCounter(name: "fwtrace_sink_records_total", labels: [("sink", name), ("outcome", "dropped")], help: help))
    }

    // MARK: - at a scrape

    /// What the gauges are now, then the whole exposition (text format 0.0.4).
    func exposition(sessions: [SessionRegistry.Entry], sinks: [String: RecordSink]) -> [UInt8] {
        for kind in [SessionRegistry.Entry.Kind.watch, .client] {
            // Running only: an ended session waits up to a second to be reaped, its rules gone.
            let mine = sessions.filter { $0.kind == kind && $0.runner.stats.current.state == .running }
            registry.makeGauge(name: "fwtrace_sessions", labels: [("kind", kind.rawValue)],
                               help: "Trace sessions running: the configured watches', and clients' (fwtrace follow through the daemon)").set(Int64(mine.count))
            registry.makeGauge(name: "fwtrace_trace_rules", labels: [("kind", kind.rawValue)],
                               help: "Trace rules fwtrace has installed for those sessions (each tagged and rate-limited, removed when its session ends)")
                .set(Int64(mine.reduce(0) { $0 + $1.runner.stats.current.rules.count }))
        }
        var gauges: [String: [Gauge]] = [:]
        for (name, sink) in sinks {
            gauges[name] = [
                registry.makeGauge(name: "fwtrace_sink_queue_depth", labels: [("sink", name)],
                                   help: "Records waiting in a sink's queue (and being written)").set(to: sink.queued),
                registry.makeGauge(name: "fwtrace_sink_queue_capacity", labels: [("sink", name)],
                                   help: "A sink's queue size ([[sink]] buffer): past it the oldest records are dropped").set(to: sink.queue.capacity),
            ]
        }
        // A sink a reload removed: its gauges go (a frozen depth would look like a sink still full).
        let gone = sinkGauges.withLock { known -> [Gauge] in
            let stale = known.filter { gauges[$0.key] == nil }.flatMap(\.value)
            known = gauges
            return stale
        }
        for gauge in gone { registry.unregisterGauge(gauge) }
        return registry.emitToBuffer()
    }
}

/// A sink's two counters (DaemonMetrics.sinkCounters).
struct SinkCounters: Sendable {
    let delivered: Counter
    let dropped: Counter
}

private extension Gauge {
    func set(to value: Int) -> Gauge { set(Int64(value)); return self }
}
