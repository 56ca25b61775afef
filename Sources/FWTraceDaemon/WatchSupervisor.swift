import FWTraceCore
import FWTraceKernel

/// Keeps the configured watches running: starts each, starts a failed or ended one again at most
/// every 10 s, and on reload stops removed and changed watches and starts added and changed
/// ones, leaving the rest alone. Runs on the main thread; `status` reads `configured`.
final class WatchSupervisor: DaemonService, @unchecked Sendable {
    private struct Watch {
        var config: DaemonConfig.Watch
        var runner: TraceRunner?
        var session: String?
        var lastAttempt = 0.0
        var lastError: String?
    }

    /// Seconds between attempts to start a watch that failed.
    static let retryInterval = 10.0

    private var watches: [String: Watch] = [:]
    /// The configured watches in their order, for `status` on the client threads.
    let configured = Locked<[DaemonConfig.Watch]>([])
    private let registry: SessionRegistry
    private let sinks: SinkSet
    private let metrics: DaemonMetrics

    init(_ configs: [DaemonConfig.Watch], registry: SessionRegistry, sinks: SinkSet, metrics: DaemonMetrics) {
        self.registry = registry; self.sinks = sinks; self.metrics = metrics
        configured.withLock { $0 = configs }
    }

    func run() throws {
        for watch in configured.current { start(watch) }
    }

    /// Stops every watch's session (the daemon has asked them all already, SessionRegistry.stopAll,
    /// and logs what did not stop) and forgets the watches.
    func stop(deadline: Double) {
        for name in Array(watches.keys) { stopWatch(name, deadline: deadline, quietly: true) }
    }

    private func start(_ config: DaemonConfig.Watch) {
        var watch = watches[config.name] ?? Watch(config: config)
        watch.config = config
        watch.lastAttempt = SystemClock.monotonic()
        var session: String?
        do {
            let filter = try config.filter.makeFilter()
            var job = TraceJob(filter: filter, limit: config.limit)
            job.backend = config.backend
            job.watch = config.name
            if let netns = config.netns { job.namespace = try NetworkNamespace.resolve(netns) }
            job.allNamespaces = config.allNetns
            job.maxNamespaces = config.maxNamespaces
            job.options.progress = metrics.progress(watch: config.name)
            let id = job.options.session
            session = id
            // Counted before the watch's verdict filter: the metrics see every path it traced.
            let deliver = sinks.output(for: config), metrics = self.metrics, name = config.name
            let runner = try TraceRunner(job: job, output: { record in metrics.count(record, watch: name); deliver(record) },
                                         log: { Daemon.log($0, priority: 5) })
            registry.add(SessionRegistry.Entry(kind: .watch, name: config.name, peer: nil, filter: filter.summary, netns: config.allNetns ? "all" : config.netns,
                                               limit: "\(config.limit.count)/\(config.limit.unit)", rate: config.tracedRate, runner: runner),
                         session: id)
            try runner.start()
            watch.runner = runner
            watch.session = id
            watch.lastError = nil
            Daemon.log("watch \(config.name): session \(id), \(filter.summary)\(config.allNetns ? " in every namespace (at most \(config.maxNamespaces) at once)" : config.netns.map { " in netns \($0)" } ?? "")")
        } catch {
            if let session { registry.remove(session) }
            let message = (error as? UserFacingError)?.message ?? "\(error)"
            if watch.lastError != message { Daemon.log("watch \(config.name) could not start: \(message); retrying every 10 s", priority: 3) }
            watch.lastError = message
            watch.runner = nil
        }
        watches[config.name] = watch
    }

    private func stopWatch(_ name: String, deadline: Double, quietly: Bool = false) {
        guard let watch = watches.removeValue(forKey: name) else { return }
        if let runner = watch.runner {
            runner.requestStop()
            if !runner.join(until: deadline), !quietly { Daemon.log("watch \(name): session did not stop in time; still counted until it does", priority: 3) }
        }
        if let session = watch.session { registry.release(session) }
        if !quietly { Daemon.log("watch \(name) stopped") }
    }

    /// A watch whose session failed (its namespace went away, the backend was refused) or ended is
    /// started again, at most every 10 s.
    func supervise() {
        for (name, watch) in watches {
            guard let runner = watch.runner else {
                if SystemClock.monotonic() - watch.lastAttempt >= Self.retryInterval { start(watch.config) }
                continue
            }
            guard runner.isFinished else { continue }
            runner.join(until: SystemClock.monotonic() + 1)
            let stats = runner.stats.current
            if let session = watch.session { registry.remove(session) }
            var updated = watch
            updated.runner = nil
            updated.lastError = stats.error
            if watch.lastError != stats.error, let error = stats.error { Daemon.log("watch \(name) failed: \(error); retrying every 10 s", priority: 3) }
            watches[name] = updated
        }
    }

    /// Applies a reloaded configuration's watches; the counts the reload's log line gives.
    func reload(_ new: [DaemonConfig.Watch], deadline: Double) -> (added: Int, removed: Int, changed: Int) {
        let old = configured.current
        var added = 0, removed = 0, changed = 0
        for watch in old where !new.contains(where: { $0.name == watch.name }) {
            stopWatch(watch.name, deadline: deadline); removed += 1
        }
        for watch in new {
            if let previous = old.first(where: { $0.name == watch.name }) {
                if previous == watch { continue }
                stopWatch(watch.name, deadline: deadline); start(watch); changed += 1
            } else {
                start(watch); added += 1
            }
        }
        configured.withLock { $0 = new }
        return (added, removed, changed)
    }
}
