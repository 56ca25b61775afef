import FWTraceCore
import FWTraceKernel

/// `fwtrace daemon`: keeps the configured watches running, streams their records to the sinks,
/// serves `follow`/`status` on the control socket, reloads on SIGHUP and stops cleanly on
/// SIGTERM/SIGINT. Its services (sinks, client acceptor, watch supervisor) start in that order
/// and stop in the reverse one; the main thread owns the configuration and runs the loop that
/// polls signals and the control socket. Sessions, sinks and clients each have a thread of their
/// own and share only what sits behind a lock.
public final class Daemon: @unchecked Sendable {
    let configPath: String
    var config: DaemonConfig
    let settings: Locked<DaemonConfig.Settings>
    let registry = SessionRegistry()
    let host = TraceJob.hostname()
    let daemonSession: String
    let started = SystemClock.now()
    let notify = SystemdNotify()
    private(set) var groupID: UInt32 = 0
    /// Made by run(), once the socket group is known.
    private var sinks: SinkSet!
    private var acceptor: ClientAcceptor!
    private var supervisor: WatchSupervisor!
    /// Counted whether or not [metrics] asks for a listener (one path for both).
    let metrics: DaemonMetrics
    private var metricsServer: MetricsServer?

    /// `--log-level`: when given, it wins over the config's log_level, also across reloads.
    let logLevelOverride: DaemonConfig.LogLevel?

    /// `version`: fwtrace's, for the build_info metric.
    public init(configPath: String, logLevel: DaemonConfig.LogLevel? = nil, version: String) throws {
        self.configPath = configPath
        logLevelOverride = logLevel
        do { config = try DaemonConfig.load(path: configPath) } catch let e as ConfigError {
            throw UserFacingError("refusing to start: \(e)", exitCode: ExitCode.usage)
        }
        settings = Locked(config.settings)
        metrics = DaemonMetrics(topRules: config.metrics?.topRules ?? DaemonConfig.Metrics.defaultTopRules, version: version)
        daemonSession = "daemon-\(CurrentProcess.id)"
        let level = logLevel ?? config.settings.logLevel ?? .info
        Self.logThreshold.withLock { $0 = level.priority }
    }

    // MARK: - run

    public func run() throws -> Int32 {
        try Privileges.requireNetAdmin(command: "daemon")
        guard let gid = PeerCredentials.groupID(named: config.settings.socketGroup) else {
            throw UserFacingError("group '\(config.settings.socketGroup)' does not exist: create it (systemd-sysusers with systemd/fwtrace.sysusers, or groupadd --system \(config.settings.socketGroup)) or set socket_group in \(configPath)", exitCode: ExitCode.unavailable)
        }
        groupID = gid
        let signals = try SignalDescriptor()
        LeftoverRepair.run()
        sinks = SinkSet(config.sinks, host: host, session: daemonSession, group: gid, metrics: metrics)
        acceptor = ClientAcceptor(path: config.settings.socketPath, group: gid, settings: settings) { [unowned self] connection in
            ClientHandler(connection: connection, daemon: self)
        }
        supervisor = WatchSupervisor(config.watches, registry: registry, sinks: sinks, metrics: metrics)
        var services: [DaemonService] = [sinks, acceptor, supervisor]
        if let listen = config.metrics {
            let registry = self.registry, sinks = self.sinks!, metrics = self.metrics
            let server = try MetricsServer(listen, group: gid) { metrics.exposition(sessions: Array(registry.all.values), sinks: sinks.current) }
            metricsServer = server
            services.insert(server, at: 1)
        }
        try Self.start(services)
        notify.send("READY=1\nSTATUS=\(registry.summary)\nMAINPID=\(CurrentProcess.id)")
        Self.log("ready: \(config.watches.count) watches, \(config.sinks.count) sinks, config \(configPath)")
        do { try loop(signals: signals) } catch {
            // The sessions hold rules: stop them as SIGTERM would, then say why.
            Self.log("the main loop failed (\(error)): stopping", priority: 2)
            _ = stop()
            return ExitCode.failure
        }
        return stop()
    }

    /// Runs each service in order; when one cannot start, those already running stop (in the
    /// reverse order: a listener's socket file goes) before the error is thrown.
    static func start(_ services: [DaemonService]) throws {
        for (index, service) in services.enumerated() {
            do { try service.run() } catch {
                for started in services[..<index].reversed() { started.stop(deadline: SystemClock.monotonic() + 2) }
                throw error
            }
        }
    }

    /// Until SIGTERM or SIGINT: SIGHUP reloads, connections are accepted, and once a second the
    /// watches are supervised and ended clients and sessions reaped.
    private func loop(signals: SignalDescriptor) throws {
        var lastWatchdog = 0.0
        var lastTick = 0.0
        while true {
            var set = PollSet()
            set.add(signals.descriptor)
            if let listener = acceptor.listener { set.add(listener.descriptor) }
            let ready = try set.wait(timeout: min(1.0, notify.watchdogInterval ?? 1.0))
            if !ready[0].isEmpty, let signal = signals.next() {
                if signal == .hangup { reload() } else {
                    Self.log("received \(signal == .terminate ? "SIGTERM" : "SIGINT"): stopping")
                    return
                }
            }
            if ready.count > 1, !ready[1].isEmpty { acceptor.accept() }
            let now = SystemClock.monotonic()
            if let interval = notify.watchdogInterval, now - lastWatchdog >= interval {
                notify.send("WATCHDOG=1")
                lastWatchdog = now
            }
            if now - lastTick >= 1 {
                lastTick = now
                supervisor.supervise()
                acceptor.reap()
                registry.reapLingering()
            }
        }
    }

    // MARK: - reload

    func reload() {
        notify.send("RELOADING=1")
        defer { notify.send("READY=1\nSTATUS=\(registry.summary)") }
        let new: DaemonConfig
        do { new = try DaemonConfig.load(path: configPath) } catch {
            Self.log("reload refused, the running configuration stays: \(error)", priority: 3)
            let record = OutputRecord.other(RecordEncoder.error(message: "reload refused: \(error)", code: "config",
                                                                time: SystemClock.now(), context: RecordContext(host: host, netns: nil, backend: "nft", session: daemonSession)),
                                            type: "error", context: nil)
            sinks.deliverToAll(record)
            return
        }
        let old = config
        if new.settings.socketPath != old.settings.socketPath || new.settings.socketGroup != old.settings.socketGroup || new.settings.socketMode != old.settings.socketMode {
            Self.log("reload: the control socket's path, group and mode change only on restart", priority: 4)
        }
        if new.metrics != old.metrics { Self.log("reload: [metrics] changes only on restart", priority: 4) }
        var kept = new
        kept.metrics = old.metrics
        kept.settings.socketPath = old.settings.socketPath
        kept.settings.socketGroup = old.settings.socketGroup
        kept.settings.socketMode = old.settings.socketMode
        settings.withLock { $0 = kept.settings }
        Self.logThreshold.withLock { $0 = (logLevelOverride ?? kept.settings.logLevel ?? .info).priority }

        let deadline = SystemClock.monotonic() + kept.settings.stopTimeout
        sinks.reload(kept.sinks, deadline: deadline)
        let (added, removed, changed) = supervisor.reload(kept.watches, deadline: deadline)
        config = kept
        Self.log("reloaded \(configPath): \(added) watches added, \(removed) removed, \(changed) changed, \(kept.watches.count - added - changed) untouched")
    }

    // MARK: - stop

    /// No new client from the first moment; every session told to stop at once and waited for
    /// until stop_timeout; then the services in reverse order, the sinks last (they write what
    /// the sessions sent on their way out).
    func stop() -> Int32 {
        notify.send("STOPPING=1")
        registry.markStopping()
        let deadline = SystemClock.monotonic() + settings.current.stopTimeout
        // The stop's own waits end by stop_timeout + 2 s (the sinks' last 2 s); systemd's
        // TimeoutStopSec (15 s) leaves the watchdog's line time to reach the journal.
        let phase = Self.stopWatchdog(after: settings.current.stopTimeout + 3)
        acceptor.closeListener()
        // Told first (its thread ends at once, whatever a client is doing), joined before the sinks.
        metricsServer?.requestStop()
        phase.withLock { $0 = "sessions" }
        let stuck = registry.stopAll(deadline: deadline)
        phase.withLock { $0 = "watches" }
        supervisor.stop(deadline: deadline)
        phase.withLock { $0 = "clients" }
        acceptor.stop(deadline: deadline)
        phase.withLock { $0 = "metrics" }
        metricsServer?.stop(deadline: SystemClock.monotonic() + 1)
        phase.withLock { $0 = "sinks" }
        sinks.stop(deadline: SystemClock.monotonic() + 2)
        phase.withLock { $0 = "exit" }
        if !stuck.isEmpty {
            Self.log("\(stuck.count) sessions did not stop within stop_timeout (\(stuck.joined(separator: ", "))); exiting anyway (nft tables go with the process; legacy rules are swept at the next start)", priority: 3)
            return ExitCode.failure
        }
        Self.log("stopped: every trace rule removed")
        return ExitCode.success
    }

    /// Every wait of the stop is bounded; this bounds the rest (a thread's last steps, the exit):
    /// a stop still running `seconds` after it began is logged with the step it was in, and the
    /// process ends with exit code 1 (nft tables go with it; legacy rules are swept at the next start).
    static func stopWatchdog(after seconds: Double) -> Locked<String> {
        let phase = Locked("listener")
        let deadline = SystemClock.monotonic() + seconds
        let watchdog = WorkerThread(name: "stop-watchdog") {
            // SystemClock.sleep may end early: sleep until the deadline.
            while case let left = deadline - SystemClock.monotonic(), left > 0 { SystemClock.sleep(left) }
            Daemon.log("the stop did not finish within stop_timeout + 3 s (it was at: \(phase.current)): exiting now", priority: 2)
            CurrentProcess.exitNow(ExitCode.failure)
        }
        do { try watchdog.start() } catch {
            Daemon.log("no stop watchdog (\(error)): the stop is bounded by its own waits only", priority: 4)
        }
        return phase
    }

    // MARK: - for the client threads

    var stopping: Bool { registry.isStopping }

    func statusJSON() -> String {
        StatusReport(configPath: configPath, started: started, settings: settings.current, sessions: registry.all,
                     watches: supervisor.configured.current, sinks: sinks.current).json
    }
}

/// A daemon killed with -9 leaves legacy TRACE rules and logger bindings behind (nft tables go
/// with the process). Repair every namespace that has a record of a dead session.
enum LeftoverRepair {
    static func run() {
        for inode in LegacyBindingState.recordedNamespaceInodes() {
            guard let namespace = NetworkNamespace.find(inode: inode) else {
                Daemon.log("a legacy binding record names namespace inode \(inode), which no longer exists: nothing to repair there", priority: 5)
                continue
            }
            let repaired = Locked<[String]>([])
            let worker = WorkerThread(name: "repair") {
                guard (try? namespace.enter()) != nil else { return }
                let lines = LegacyInstaller.sweepOrphans() + LegacyBindingState.recoverOrphan()
                repaired.withLock { $0 = lines }
            }
            guard (try? worker.start()) != nil else { continue }
            worker.join(until: SystemClock.monotonic() + 30)
            for line in repaired.current { Daemon.log("repaired in netns \(namespace.displayName): \(line)", priority: 5) }
        }
    }
}
