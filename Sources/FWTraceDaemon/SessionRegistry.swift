import FWTraceKernel

/// Every running trace, a watch's or a client's: what max_sessions, max_trace_rate and `status`
/// count. Shared by the main thread (watches) and the client threads, behind one lock.
final class SessionRegistry: @unchecked Sendable {
    /// One running trace.
    struct Entry: Sendable {
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

    private let sessions = Locked<[String: Entry]>([:])
    /// Sessions told to stop whose thread had not ended by its deadline: they stay counted (and
    /// in status) until it ends, and stop still waits for them.
    private let lingering = Locked<Set<String>>([])
    private let stopping = Locked(false)

    var all: [String: Entry] { sessions.current }
    /// The traced rate the running sessions count against max_trace_rate.
    var usedRate: Double { sessions.current.values.reduce(0) { $0 + $1.rate } }
    var isStopping: Bool { stopping.current }

    /// From now on no client session is admitted.
    func markStopping() { sessions.withLock { _ in stopping.withLock { $0 = true } } }

    /// A watch's session: counted, never refused (the configuration is the admin's).
    func add(_ entry: Entry, session: String) { sessions.withLock { $0[session] = entry } }

    /// Forgets a session at once (it never started, or its thread has been joined).
    func remove(_ session: String) { sessions.withLock { $0[session] = nil } }

    /// Reserves a client session against max_sessions and max_trace_rate.
    func reserve(_ entry: Entry, session: String, limits: DaemonConfig.Settings) throws {
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

    /// Forgets the lingering sessions whose thread has ended since.
    func reapLingering() {
        for session in lingering.current {
            guard let runner = sessions.withLock({ $0[session]?.runner }) else { lingering.withLock { _ = $0.remove(session) }; continue }
            if runner.isFinished {
                runner.join(until: SystemClock.monotonic() + 1)
                remove(session)
                lingering.withLock { _ = $0.remove(session) }
            }
        }
    }

    /// Tells every session to stop and waits for each until `deadline`; how many did not end.
    /// Tells every session to stop and waits for each until `deadline`; returns the ones still
    /// running then, as "session (state)", for the stop's log line.
    func stopAll(deadline: Double) -> [String] {
        let all = sessions.withLock { Array($0) }
        for (_, entry) in all { entry.runner.requestStop() }
        return all.filter { !$0.value.runner.join(until: deadline) }.map { "\($0.key) (\($0.value.runner.stats.current.state.rawValue))" }.sorted()
    }

    var summary: String {
        let all = sessions.current.values
        return "\(all.filter { $0.kind == .watch }.count) watches, \(all.filter { $0.kind == .client }.count) client sessions"
    }
}
