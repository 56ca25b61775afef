import FWTraceCore
import FWTraceKernel

/// Runs one trace (a watch's or a client's) on a thread of its own, inside its namespace, until it
/// ends or is told to stop. Records go to `output`, which must not block (a bounded queue).
public final class TraceRunner: @unchecked Sendable {
    public enum State: String, Sendable { case starting, running, ended, failed }

    public struct Stats: Sendable {
        public var state: State = .starting
        public var since = SystemClock.now()
        public var paths = 0
        public var lost: UInt64 = 0
        public var rules: [String] = []
        public var table: String?
        public var backend: String?
        public var error: String?
        public var exit: Int32 = 0
        public var endMessage: String?
    }

    public let job: TraceJob
    public let stats = Locked(Stats())
    private let stopWakeup: Wakeup
    private var worker: WorkerThread!
    private let output: @Sendable (OutputRecord) -> Void
    private let log: @Sendable (String) -> Void
    private let onEnd: @Sendable () -> Void

    public init(job: TraceJob, output: @escaping @Sendable (OutputRecord) -> Void, log: @escaping @Sendable (String) -> Void,
                onEnd: @escaping @Sendable () -> Void = {}) throws {
        stopWakeup = try Wakeup()
        var job = job
        job.options.stopFD = stopWakeup.fd
        self.job = job
        self.output = output
        self.log = log
        self.onEnd = onEnd
        // Made here, before anyone can see this runner: start() only starts it.
        worker = WorkerThread(name: "trace-\(job.options.session)") { [self] in run() }
    }

    public func start() throws { try worker.start() }

    public func requestStop() { stopWakeup.signal() }
    /// Nothing runs (never started, or ended): its rules are gone.
    public var isFinished: Bool { worker.isIdle }
    @discardableResult public func join(until deadline: Double) -> Bool { worker.join(until: deadline) }

    private func run() {
        defer { onEnd() }
        let job = self.job
        if job.allNamespaces { return runAcrossNamespaces(job) }
        var context = RecordContext(host: TraceJob.hostname(), netns: job.namespace?.displayName, backend: "nft", session: job.options.session)
        context.watch = job.watch
        do {
            let prepared = try job.prepare()
            context = prepared.context
            stats.withLock { $0.backend = context.backend }
            let output = self.output, stats = self.stats, log = self.log
            let outcome = try job.run(prepared) { event in
                switch event {
                case .started(let info):
                    stats.withLock { $0.state = .running; $0.rules = info.rules; $0.table = info.table }
                    output(.other(RecordEncoder.sessionStarted(info, time: SystemClock.now(), context: context), type: "session", context: context))
                case .path(let path):
                    stats.withLock { $0.paths += 1 }
                    output(.path(path, context: context))
                case .loss(let count, let reason, let detail):
                    stats.withLock { $0.lost += count }
                    output(.loss(RecordEncoder.loss(count: count, reason: reason, detail: detail, time: SystemClock.now(), context: context), count: count, reason: reason, context: context))
                case .notice(let text):
                    log("session \(context.session)\(context.watch.map { " (watch \($0))" } ?? ""): \(text)")
                }
            }
            if let closing = outcome.closingRecord(context: context) { output(.other(closing, type: "session", context: context)) }
            stats.withLock {
                $0.state = .ended
                if let noMatch = outcome.noMatch { $0.exit = ExitCode.noMatch; $0.endMessage = noMatch.hint.message }
            }
        } catch {
            let message: String
            let exit: Int32
            switch error {
            case let e as UserFacingError: message = e.message; exit = e.exitCode
            default: message = "\(error)"; exit = ExitCode.failure
            }
            stats.withLock { $0.state = .failed; $0.error = message; $0.exit = exit }
            output(.other(RecordEncoder.error(message: message, code: exit == ExitCode.unavailable ? "unavailable" : "session-failed", time: SystemClock.now(), context: context), type: "error", context: context))
        }
    }

    /// `all_netns` (a client's follow, a watch's `all_netns = true`): a session in every
    /// namespace (MultiNamespaceTrace), stopped by this runner's eventfd like one namespace's.
    private func runAcrossNamespaces(_ job: TraceJob) {
        let output = self.output, stats = self.stats
        var context = RecordContext(host: TraceJob.hostname(), netns: nil, backend: job.backend == .legacy ? "legacy" : "nft", session: job.options.session)
        context.watch = job.watch
        do {
            let targets = MultiNamespaceTrace.Target.scanAll()
            let trace = try MultiNamespaceTrace(job: job, targets: targets, rescan: { MultiNamespaceTrace.Target.scanAll(known: $0) }, maxNamespaces: job.maxNamespaces)
            stats.withLock { $0.state = .running; $0.backend = context.backend; $0.table = "fwtrace_\(job.options.session)" }
            let outcome = try trace.run { event in
                switch event {
                case .record(let line, var recordContext):
                    recordContext.watch = job.watch
                    output(.other(line, type: line.contains(#""type":"error""#) ? "error" : "session", context: recordContext))
                case .loss(let line, let count, let reason, var recordContext):
                    recordContext.watch = job.watch
                    stats.withLock { $0.lost += count }
                    output(.loss(line, count: count, reason: reason, context: recordContext))
                case .path(let path, var pathContext):
                    pathContext.watch = job.watch
                    stats.withLock { $0.paths += 1 }
                    output(.path(path, context: pathContext))
                case .notice(let text):
                    self.log("session \(job.options.session): \(text)")
                }
            }
            if let failure = outcome.failure { throw failure }
            stats.withLock { $0.state = .ended }
        } catch {
            let e = error as? UserFacingError ?? UserFacingError("\(error)", exitCode: ExitCode.failure)
            stats.withLock { $0.state = .failed; $0.error = e.message; $0.exit = e.exitCode }
            output(.other(RecordEncoder.error(message: e.message, code: e.exitCode == ExitCode.unavailable ? "unavailable" : "session-failed", time: SystemClock.now(), context: context), type: "error", context: context))
        }
    }
}
