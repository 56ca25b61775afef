import Foundation
import Glibc
import CNetfilter
import FWTraceCore
import FWTraceKernel

/// `fwtrace daemon`: keeps the configured watches running, streams their records to the sinks,
/// serves `follow`/`status` on the control socket, reloads on SIGHUP and stops cleanly on
/// SIGTERM/SIGINT. The main thread owns the configuration; sessions, sinks and clients each have a
/// thread of their own and share only what sits behind a lock.
public final class Daemon: @unchecked Sendable {
    /// One running trace, a watch's or a client's: what limits and `status` need.
    struct SessionEntry: Sendable {
        enum Kind: String, Sendable { case watch, client }
        var kind: Kind
        var name: String
        var peer: PeerCredentials?
        var filter: String
        var netns: String?
        var limit: String
        var rate: Double
        var runner: TraceRunner
    }

    struct WatchEntry {
        var config: DaemonConfig.Watch
        var runner: TraceRunner?
        var session: String?
        var lastAttempt = 0.0
        var lastError: String?
    }

    let configPath: String
    var config: DaemonConfig
    let settings: Locked<DaemonConfig.Settings>
    let sinks = Locked<[String: RecordSink]>([:])
    let sessions = Locked<[String: SessionEntry]>([:])
    var watches: [String: WatchEntry] = [:]
    let watchConfigs = Locked<[DaemonConfig.Watch]>([])
    /// A control connection's thread and the uid it is counted against.
    struct Connection { let worker: WorkerThread; let uid: UInt32 }
    let clients = Locked<[Int: Connection]>([:])
    /// Sessions told to stop whose thread had not ended by its deadline: they stay counted (and
    /// in status) until it ends, and stop() still waits for them.
    let lingering = Locked<Set<String>>([])
    let stopping = Locked(false)
    let host = TraceJob.hostname()
    let daemonSession: String
    let started = Clock.now()
    let notify = SystemdNotify()
    var groupID: UInt32 = 0
    var listenFD: Int32 = -1
    var nextClient = 0
    /// Control connections served at once (each waits at most request_timeout for its request).
    static let maxConnections = 64
    /// Of those, kept for root: users filling the rest (max_connections_per_user each) cannot
    /// lock root out.
    static let rootReserve = 8

    /// `--log-level`: when given, it wins over the config's log_level, also across reloads.
    let logLevelOverride: DaemonConfig.LogLevel?

    public init(configPath: String, logLevel: DaemonConfig.LogLevel? = nil) throws {
        self.configPath = configPath
        logLevelOverride = logLevel
        do { config = try DaemonConfig.load(path: configPath) } catch let e as ConfigError {
            throw UserFacingError("refusing to start: \(e)", exitCode: ExitCode.usage)
        }
        settings = Locked(config.settings)
        daemonSession = "daemon-\(getpid())"
        let level = logLevel ?? config.settings.logLevel ?? .info
        Self.logThreshold.withLock { $0 = level.priority }
    }

    /// Logs to stderr: plain lines, with the priority prefixes sd-daemon(3) describes only when
    /// stderr is the journal. Messages carry what clients sent, so each is escaped and bounded
    /// here: one call, one line.
    public static func log(_ message: String, priority: Int = 6) {
        guard priority <= logThreshold.current else { return }
        let message = logSafe(message)
        let line = stderrIsJournal ? "<\(priority)>fwtrace: \(message)\n" : "fwtrace: \(message)\n"
        _ = Array(line.utf8).withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// stderr is connected to the journal: systemd sets JOURNAL_STREAM to its device and inode
    /// ("dev:ino", systemd.exec(5)); a stderr redirected elsewhere (a file, a pipe, a terminal,
    /// or a child of the service) has other numbers, and gets no `<N>` prefixes.
    static let stderrIsJournal: Bool = {
        guard let value = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        var st = stat()
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]), fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode
    }()
    let log: @Sendable (String) -> Void = { Daemon.log($0) }

    /// The least urgent priority logged (syslog numbers, 7 debug … 3 error): log_level or
    /// --log-level; info by default.
    static let logThreshold = Locked(DaemonConfig.LogLevel.info.priority)

    /// Longest message logged, in bytes: far below journald's LineMax (48K), past which one
    /// line would become several entries.
    static let maxLogMessage = 4096

    /// Control characters (C0, DEL, C1: newlines, CR, ESC, NUL), line and paragraph separators
    /// and bidi overrides as visible escapes, so no message can start a line of its own, carry a
    /// priority prefix or rewrite a terminal; cut at maxLogMessage bytes.
    static func logSafe(_ message: String) -> String {
        if message.utf8.count <= maxLogMessage, message.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) { return message }
        var out = ""
        var bytes = 0
        for scalar in message.unicodeScalars {
            let v = scalar.value
            let piece: String
            switch v {
            case 0x0a: piece = "\\n"
            case 0x0d: piece = "\\r"
            case 0x09: piece = "\\t"
            case 0..<0x20, 0x7f: piece = "\\x" + (v < 0x10 ? "0" : "") + String(v, radix: 16)
            case 0x80..<0xa0, 0x2028, 0x2029, 0x200e, 0x200f, 0x202a...0x202e, 0x2066...0x2069: piece = "\\u{" + String(v, radix: 16) + "}"
            default: piece = String(scalar)
            }
            if bytes + piece.utf8.count > maxLogMessage {
                return out + "… (cut from \(message.utf8.count) bytes)"
            }
            out += piece
            bytes += piece.utf8.count
        }
        return out
    }

    // MARK: - run

    public func run() throws -> Int32 {
        try Privileges.requireNetAdmin(command: "daemon")
        guard let gid = PeerCredentials.groupID(named: config.settings.socketGroup) else {
            throw UserFacingError("group '\(config.settings.socketGroup)' does not exist: create it (systemd-sysusers with systemd/fwtrace.sysusers, or groupadd --system \(config.settings.socketGroup)) or set socket_group in \(configPath)", exitCode: ExitCode.unavailable)
        }
        groupID = gid
        let signalFD = try Signals.makeFD()
        defer { close(signalFD) }

        repairLeftovers()
        for sink in config.sinks { startSink(sink) }
        listenFD = try ControlSocket.listen(path: config.settings.socketPath, group: gid, mode: config.settings.socketMode)
        Self.log("control socket \(config.settings.socketPath) (group \(config.settings.socketGroup), mode \(String(config.settings.socketMode, radix: 8)))")
        for watch in config.watches { startWatch(watch) }
        watchConfigs.withLock { $0 = config.watches }
        notify.send("READY=1\nSTATUS=\(statusLine())\nMAINPID=\(getpid())")
        Self.log("ready: \(config.watches.count) watches, \(config.sinks.count) sinks, config \(configPath)")

        var lastWatchdog = 0.0
        var lastTick = 0.0
        loop: while true {
            var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0), pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)]
            let timeout = Int32(min(1.0, notify.watchdogInterval ?? 1.0) * 1000)
            if poll(&fds, 2, timeout) < 0 && errno != EINTR { throw SystemError("poll") }
            if fds[0].revents != 0, let signal = Signals.read(signalFD) {
                if signal == SIGHUP { reload() } else {
                    Self.log("received \(signal == SIGTERM ? "SIGTERM" : "SIGINT"): stopping")
                    break loop
                }
            }
            if fds[1].revents != 0 { acceptClient() }
            let now = Clock.monotonic()
            if let interval = notify.watchdogInterval, now - lastWatchdog >= interval {
                notify.send("WATCHDOG=1")
                lastWatchdog = now
            }
            if now - lastTick >= 1 {
                lastTick = now
                superviseWatches()
                reapClients()
                reapLingering()
            }
        }
        return stop()
    }

    // MARK: - leftovers

    /// A daemon killed with -9 leaves legacy TRACE rules and logger bindings behind (nft tables go
    /// with the process). Repair every namespace that has a record of a dead session.
    func repairLeftovers() {
        for inode in LegacyBindingState.recordedNamespaceInodes() {
            guard let namespace = NetworkNamespace.find(inode: inode) else {
                Self.log("a legacy binding record names namespace inode \(inode), which no longer exists: nothing to repair there", priority: 5)
                continue
            }
            let repaired = Locked<[String]>([])
            let worker = WorkerThread(name: "repair") {
                guard (try? namespace.enter()) != nil else { return }
                let lines = LegacyInstaller.sweepOrphans() + LegacyBindingState.recoverOrphan()
                repaired.withLock { $0 = lines }
            }
            guard (try? worker.start()) != nil else { continue }
            worker.join(until: Clock.monotonic() + 30)
            for line in repaired.current { Self.log("repaired in netns \(namespace.displayName): \(line)", priority: 5) }
        }
    }

    // MARK: - sinks

    func startSink(_ config: DaemonConfig.Sink) {
        do {
            // A sink logs only trouble (cannot open, unreachable, records lost): warnings.
            let sink = try RecordSink.make(config, host: host, session: daemonSession, log: { Daemon.log($0, priority: 4) }, group: groupID)
            try sink.start()
            sinks.withLock { $0[config.name] = sink }
        } catch {
            Self.log("sink \(config.name) could not start: \(error)", priority: 3)
        }
    }

    // MARK: - watches

    func startWatch(_ watch: DaemonConfig.Watch) {
        var entry = watches[watch.name] ?? WatchEntry(config: watch)
        entry.config = watch
        entry.lastAttempt = Clock.monotonic()
        let session = TraceJob.makeSessionID()
        do {
            let filter = try watch.filter.makeFilter()
            var options = NftTraceSession.Options(session: session, filter: filter, limit: watch.limit)
            options.quietPeriod = 0.1
            var job = TraceJob(options: options)
            job.backend = watch.backend
            job.watch = watch.name
            if let netns = watch.netns { job.namespace = try NetworkNamespace.resolve(netns) }
            let sinks = self.sinks, names = watch.sinks, verdicts = Set(watch.verdicts)
            let output: @Sendable (OutputRecord) -> Void = { record in
                if record.type == "path", !verdicts.isEmpty, let v = record.verdict, !verdicts.contains(v) { return }
                let targets = sinks.withLock { all in Daemon.sinkNames(names, running: all).compactMap { all[$0] } }
                for sink in targets { sink.deliver(record) }
            }
            let runner = try TraceRunner(job: job, output: output, log: { Daemon.log($0, priority: 5) })
            sessions.withLock {
                $0[session] = SessionEntry(kind: .watch, name: watch.name, peer: nil, filter: filter.summary, netns: watch.netns,
                                           limit: "\(watch.limit.count)/\(watch.limit.unit)", rate: watch.limit.perSecond, runner: runner)
            }
            try runner.start()
            entry.runner = runner
            entry.session = session
            entry.lastError = nil
            Self.log("watch \(watch.name): session \(session), \(filter.summary)\(watch.netns.map { " in netns \($0)" } ?? "")")
        } catch {
            sessions.withLock { $0[session] = nil }
            let message = (error as? UserFacingError)?.message ?? "\(error)"
            if entry.lastError != message { Self.log("watch \(watch.name) could not start: \(message); retrying every 10 s", priority: 3) }
            entry.lastError = message
            entry.runner = nil
        }
        watches[watch.name] = entry
    }

    func stopWatch(_ name: String, deadline: Double) {
        guard let entry = watches.removeValue(forKey: name) else { return }
        if let runner = entry.runner {
            runner.requestStop()
            if !runner.join(until: deadline) { Self.log("watch \(name): session did not stop in time; still counted until it does", priority: 3) }
        }
        if let session = entry.session { release(session) }
        Self.log("watch \(name) stopped")
    }

    /// A watch whose session failed (its namespace went away, the backend was refused) or ended is
    /// started again, at most every 10 s.
    func superviseWatches() {
        for (name, entry) in watches {
            if let runner = entry.runner {
                guard runner.isFinished else { continue }
                runner.join(until: Clock.monotonic() + 1)
                let stats = runner.stats.current
                if let session = entry.session { sessions.withLock { $0[session] = nil } }
                var updated = entry
                updated.runner = nil
                updated.lastError = stats.error
                if entry.lastError != stats.error, let error = stats.error { Self.log("watch \(name) failed: \(error); retrying every 10 s", priority: 3) }
                watches[name] = updated
                continue
            }
            if Clock.monotonic() - entry.lastAttempt >= 10 { startWatch(entry.config) }
        }
    }

    // MARK: - reload

    func reload() {
        notify.send("RELOADING=1")
        defer { notify.send("READY=1\nSTATUS=\(statusLine())") }
        let new: DaemonConfig
        do { new = try DaemonConfig.load(path: configPath) } catch {
            Self.log("reload refused, the running configuration stays: \(error)", priority: 3)
            let record = OutputRecord.other(RecordEncoder.error(message: "reload refused: \(error)", code: "config",
                                                                time: Clock.now(), context: RecordContext(host: host, netns: nil, backend: "nft", session: daemonSession)),
                                            type: "error", context: nil)
            for sink in sinks.withLock({ Array($0.values) }) { sink.deliver(record) }
            return
        }
        let old = config
        if new.settings.socketPath != old.settings.socketPath || new.settings.socketGroup != old.settings.socketGroup || new.settings.socketMode != old.settings.socketMode {
            Self.log("reload: the control socket's path, group and mode change only on restart", priority: 4)
        }
        var kept = new
        kept.settings.socketPath = old.settings.socketPath
        kept.settings.socketGroup = old.settings.socketGroup
        kept.settings.socketMode = old.settings.socketMode
        settings.withLock { $0 = kept.settings }
        Self.logThreshold.withLock { $0 = (logLevelOverride ?? kept.settings.logLevel ?? .info).priority }

        let deadline = Clock.monotonic() + kept.settings.stopTimeout
        // Sinks: replace what changed, reopen what stayed (logrotate).
        for sink in old.sinks where !kept.sinks.contains(sink) {
            if let running = sinks.withLock({ $0.removeValue(forKey: sink.name) }) { running.stop(deadline: deadline) }
        }
        for sink in kept.sinks {
            if old.sinks.contains(sink) { sinks.withLock { $0[sink.name] }?.reopen() } else { startSink(sink) }
        }
        // Watches: stop removed and changed ones, start added and changed ones, leave the rest alone.
        var added = 0, removed = 0, changed = 0
        for watch in old.watches where !kept.watches.contains(where: { $0.name == watch.name }) {
            stopWatch(watch.name, deadline: deadline); removed += 1
        }
        for watch in kept.watches {
            if let previous = old.watches.first(where: { $0.name == watch.name }) {
                if previous == watch { continue }
                stopWatch(watch.name, deadline: deadline); startWatch(watch); changed += 1
            } else {
                startWatch(watch); added += 1
            }
        }
        config = kept
        watchConfigs.withLock { $0 = kept.watches }
        Self.log("reloaded \(configPath): \(added) watches added, \(removed) removed, \(changed) changed, \(kept.watches.count - added - changed) untouched")
    }

    // MARK: - stop

    func stop() -> Int32 {
        notify.send("STOPPING=1")
        sessions.withLock { _ in stopping.withLock { $0 = true } }
        let deadline = Clock.monotonic() + settings.current.stopTimeout
        if listenFD >= 0 { close(listenFD); listenFD = -1 }
        unlink(config.settings.socketPath)
        let all = sessions.withLock { Array($0.values) }
        for entry in all { entry.runner.requestStop() }
        var stuck = 0
        for entry in all where !entry.runner.join(until: deadline) { stuck += 1 }
        for client in clients.withLock({ Array($0.values) }) { client.worker.join(until: deadline) }
        for sink in sinks.withLock({ Array($0.values) }) { sink.stop(deadline: Clock.monotonic() + 2) }
        if stuck > 0 {
            Self.log("\(stuck) sessions did not stop within stop_timeout; exiting anyway (nft tables go with the process; legacy rules are swept at the next start)", priority: 3)
            return ExitCode.failure
        }
        Self.log("stopped: every trace rule removed")
        return ExitCode.success
    }

    // MARK: - clients

    func acceptClient() {
        let fd = fwt_accept4(listenFD, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        guard fd >= 0 else {
            // Out of descriptors: the socket stays readable; pause instead of spinning on it.
            if errno == EMFILE || errno == ENFILE {
                Self.log("cannot accept a control connection: \(String(cString: strerror(errno)))", priority: 3)
                usleep(200_000)
            }
            return
        }
        // Each connection has a thread; a flood of idle connections must not become a flood of
        // threads, and one user's must not take the slots of everyone else. Beyond a cap, one
        // error line (never waited on) and the door closes.
        guard let uid = PeerCredentials.uid(of: fd) else { close(fd); return }
        let perUser = settings.current.maxConnectionsPerUser
        let (all, users, own) = clients.withLock { clients -> (Int, Int, Int) in
            let open = clients.values.filter { !$0.worker.isFinished }
            return (open.count, open.filter { $0.uid != 0 }.count, open.filter { $0.uid == uid }.count)
        }
        var refusal: (message: String, log: String)?
        if all >= Self.maxConnections {
            refusal = ("the daemon already serves \(Self.maxConnections) control connections; try again later", "\(Self.maxConnections) already open")
        } else if uid != 0, own >= perUser {
            refusal = ("uid \(uid) already has \(own) control connections open to the daemon (max_connections_per_user = \(perUser)); close one or try again later",
                       "uid \(uid) already has \(own) open (max_connections_per_user = \(perUser))")
        } else if uid != 0, users >= Self.maxConnections - Self.rootReserve {
            refusal = ("the daemon already serves \(users) control connections from users other than root, all they may have: the last \(Self.rootReserve) of \(Self.maxConnections) are kept for root; try again later",
                       "\(users) open from users other than root (the last \(Self.rootReserve) of \(Self.maxConnections) are kept for root)")
        }
        if let refusal {
            let line = ProtocolError("too-many-connections", refusal.message, exit: ExitCode.unavailable).line + "\n"
            _ = Array(line.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            close(fd)
            Self.log("refused a control connection from uid \(uid): \(refusal.log)", priority: 4)
            return
        }
        nextClient += 1
        let id = nextClient
        let handler = ClientHandler(fd: fd, daemon: self)
        let worker = WorkerThread(name: "client-\(id)") { handler.run() }
        clients.withLock { $0[id] = Connection(worker: worker, uid: uid) }
        if (try? worker.start()) == nil { close(fd); clients.withLock { $0[id] = nil } }
    }

    func reapLingering() {
        for session in lingering.current {
            guard let runner = sessions.withLock({ $0[session]?.runner }) else { lingering.withLock { _ = $0.remove(session) }; continue }
            if runner.isFinished {
                runner.join(until: Clock.monotonic() + 1)
                sessions.withLock { $0[session] = nil }
                lingering.withLock { _ = $0.remove(session) }
            }
        }
    }

    func reapClients() {
        let done = clients.withLock { all in all.filter { $0.value.worker.isFinished } }
        for (id, client) in done {
            client.worker.join(until: Clock.monotonic() + 1)
            clients.withLock { $0[id] = nil }
        }
    }

    /// Reserves a client session against max_sessions and max_trace_rate.
    func reserve(_ entry: SessionEntry, session: String) throws {
        let limits = settings.current
        try sessions.withLock { all in
            guard !stopping.current else { throw ProtocolError("unavailable", "the daemon is stopping", exit: ExitCode.unavailable) }
            guard all.count < limits.maxSessions else {
                throw ProtocolError("too-many-sessions", "the daemon already runs \(all.count) sessions (max_sessions = \(limits.maxSessions)); try again later", exit: ExitCode.unavailable)
            }
            let used = all.values.reduce(0) { $0 + $1.rate }
            guard used + entry.rate <= limits.maxTraceRate else {
                throw ProtocolError("rate-exceeded", "a limit of \(entry.limit) would bring the traced rate to \(Int((used + entry.rate).rounded(.up)))/s, over max_trace_rate = \(Int(limits.maxTraceRate)); ask for a lower --limit", exit: ExitCode.unavailable)
            }
            all[session] = entry
        }
    }

    /// Forgets a session once its thread has ended; until then it stays counted and listed.
    func release(_ session: String) {
        let done = sessions.withLock { all -> Bool in
            guard let runner = all[session]?.runner else { return true }
            if runner.isFinished { all[session] = nil; return true }
            return false
        }
        if !done { lingering.withLock { _ = $0.insert(session) } }
    }

    // MARK: - status

    /// The sinks a watch's records go to: those it names that are running, or every running sink
    /// when it names none. Delivery and status both use this.
    static func sinkNames(_ named: [String], running: [String: RecordSink]) -> [String] {
        named.isEmpty ? running.keys.sorted() : named.filter { running[$0] != nil }
    }

    func sinkNames(for watch: DaemonConfig.Watch, running: [String: RecordSink]) -> [String] {
        Self.sinkNames(watch.sinks, running: running)
    }

    func statusLine() -> String {
        let all = sessions.current
        return "\(all.values.filter { $0.kind == .watch }.count) watches, \(all.values.filter { $0.kind == .client }.count) client sessions"
    }

    func statusJSON() -> String {
        var w = JSONWriter()
        w.beginObject()
        w.string("type", "status")
        w.string("version", ControlProtocol.version)
        w.int("pid", getpid())
        w.string("since", Timestamp.rfc3339(started))
        w.string("config", configPath)
        let limits = settings.current
        w.int("max_sessions", limits.maxSessions)
        w.int("max_trace_rate", Int(limits.maxTraceRate))
        let all = sessions.current
        w.int("trace_rate_in_use", Int(all.values.reduce(0) { $0 + $1.rate }.rounded(.up)))
        func session(_ id: String, _ entry: SessionEntry) {
            let stats = entry.runner.stats.current
            w.string("session", id)
            w.string("filter", entry.filter)
            if let netns = entry.netns { w.string("netns", netns) }
            w.string("limit", entry.limit)
            w.string("state", stats.state.rawValue)
            if let backend = stats.backend { w.string("backend", backend) }
            w.string("since", Timestamp.rfc3339(stats.since))
            w.int("paths", stats.paths)
            w.int("lost", stats.lost)
            if let table = stats.table { w.string("table", table) }
            w.beginArray("rules"); for rule in stats.rules { w.string(nil, rule) }; w.endArray()
            if let error = stats.error { w.string("error", error) }
        }
        let running = sinks.current
        w.beginArray("watches")
        for watch in watchConfigs.current {
            w.beginObject()
            w.string("name", watch.name)
            if let (id, entry) = all.first(where: { $0.value.kind == .watch && $0.value.name == watch.name }) {
                session(id, entry)
            } else {
                w.string("state", "waiting")
                if let netns = watch.netns { w.string("netns", netns) }
            }
            w.beginArray("sinks"); for s in sinkNames(for: watch, running: running) { w.string(nil, s) }; w.endArray()
            w.endObject()
        }
        w.endArray()
        w.beginArray("sessions")
        for (id, entry) in all.sorted(by: { $0.key < $1.key }) where entry.kind == .client {
            w.beginObject()
            if let peer = entry.peer {
                w.string("user", peer.userName); w.int("uid", peer.uid); w.int("pid", peer.pid)
            }
            session(id, entry)
            w.endObject()
        }
        w.endArray()
        w.beginArray("sinks")
        for (name, sink) in running.sorted(by: { $0.key < $1.key }) {
            w.beginObject()
            w.string("name", name)
            w.string("type", sink.config.kind.rawValue)
            if !sink.config.target.isEmpty { w.string("target", sink.config.target) }
            w.int("lost", sink.lost.current)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }
}
