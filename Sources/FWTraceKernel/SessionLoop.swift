import FWTraceCore

/// What every backend's session does the same way: wait on the backend's descriptors and on
/// signals within the session's timeout and the pipeline's quiet period, hand each datagram the
/// backend received to the capture and the pipeline (reloading the rules through the backend when
/// the pipeline says they are stale, at most 20 times a second), emit the quiet paths, stop at
/// --count, and turn a receive-queue overflow into a loss record with the kernel's count.
final class SessionLoop {
    enum Wake { case stop, ready([PollSet.Events]) }

    let options: TraceSessionOptions
    let emit: (TraceRecord) -> Void
    let pipeline: TracePipeline
    private let backend: TraceBackend
    private let capture: CaptureWriter?
    private var ended = TraceSummary()
    /// When the session began, on the monotonic clock: --timeout and the reload limits are
    /// durations, which a step of the wall clock must not end or stretch.
    let started = SystemClock.monotonic()
    private var lastReload: Double
    /// What `options.progress` was last told.
    private var reported = (events: 0, reloads: 0)
    private let stopFD: Int32
    /// The signalfd, when the session reads signals itself (closed with the loop).
    private let signalFD: FileDescriptor?

    /// Stops on SIGINT/SIGTERM/SIGHUP through a signalfd of its own, or, when the options name a
    /// stop descriptor (the daemon's sessions: an eventfd), when that becomes readable. A daemon
    /// must not read process signals from a session thread: one signalfd would steal them.
    init(options: TraceSessionOptions, backend: TraceBackend, pipeline: TracePipeline, capture: CaptureWriter?,
         emit: @escaping (TraceRecord) -> Void) throws {
        self.options = options
        if let stop = options.stopFD {
            stopFD = stop; signalFD = nil
        } else {
            let signals = FileDescriptor(adopting: try Signals.makeFD())
            stopFD = signals.rawValue; signalFD = signals
        }
        self.backend = backend
        self.pipeline = pipeline
        self.capture = capture
        self.emit = emit
        lastReload = started
    }

    /// The summary so far: paths and events as the pipeline counted them.
    var summary: TraceSummary {
        var s = ended
        s.paths = pipeline.paths
        s.events = pipeline.events
        if pipeline.isDone { s.reason = .count }
        return s
    }

    var reachedCount: Bool { pipeline.isDone }

    /// Receives until count, timeout, signal or stop: waits on `descriptors` (and the stop
    /// descriptor), has the backend receive what is ready, emits the quiet paths.
    func run(on descriptors: [Int32]) throws {
        var polls = PollSet()
        for fd in descriptors { polls.add(fd) }
        polls.add(stopFD)
        defer { reportProgress() }
        while case .ready(let ready) = try wait(&polls) {
            guard case .received(let clock) = try backend.receive(ready, loop: self) else { return }
            if expire(now: clock ?? SystemClock.now()) { return }
            backend.endTurn(self)
            reportProgress()
        }
    }

    /// Tells `options.progress` what was received since it was last told (after each batch, and
    /// once more when the session has drained its backlog).
    func reportProgress() {
        guard let progress = options.progress else { return }
        let events = pipeline.events - reported.events, reloads = pipeline.rulesetReloads - reported.reloads
        guard events > 0 || reloads > 0 else { return }
        reported = (pipeline.events, pipeline.rulesetReloads)
        progress.report(events, reloads)
    }

    /// Waits until one of the descriptors is readable or the quiet period is due; `.stop` on a
    /// signal or the timeout (recorded in the summary).
    func wait(_ polls: inout PollSet) throws -> Wake {
        options.beforeWait?()
        let now = SystemClock.monotonic()
        if let timeout = options.timeout, now - started >= timeout { ended.reason = .timeout; return .stop }
        var wait = pipeline.pendingCount > 0 ? options.quietPeriod / 2 : 0.5
        if let timeout = options.timeout { wait = min(wait, max(0, timeout - (now - started))) }
        let ready = try polls.wait(timeout: wait)
        if !ready.last!.isEmpty {
            if signalFD == nil { ended.reason = .stopped; return .stop }
            if Signals.read(stopFD) != nil { ended.reason = .signal; return .stop }
        }
        return .ready(Array(ready.dropLast()))
    }

    /// One datagram received at `time`: to the capture file, then to the pipeline; when the
    /// pipeline meets a rule it does not know, the backend reads the rules again (unless it did
    /// so in the last 50 ms) and the rest of the datagram follows. True once --count paths were
    /// delivered.
    func deliver(_ buffer: [UInt8], range: Range<Int>, at time: Double) -> Bool {
        if let capture { capture.write(range == buffer.indices ? buffer : Array(buffer[range]), time: time) }
        pipeline.feed(buffer, range: range, at: time, reload: {
            let now = SystemClock.monotonic()
            guard now - lastReload > 0.05 else { return nil }
            lastReload = now
            return backend.reloadRuleset(pipeline.ruleset)
        }, emit: emit)
        return pipeline.isDone
    }

    /// Emits the paths quiet at `now`; true once --count paths were delivered.
    func expire(now: Double) -> Bool {
        pipeline.expire(now: now, emit: emit)
        return pipeline.isDone
    }

    /// At the end (not after --count): every path still pending.
    func flushUnlessCounted() {
        if !pipeline.isDone { pipeline.flush(emit: emit) }
    }

    func addLoss(_ count: UInt64) { ended.lost += count }

    /// ENOBUFS: the kernel's exact count from /proc/net/netlink, never a silent gap.
    func reportOverrun(drops: UInt64?, what: String) {
        ended.lost += drops ?? 0
        emit(.loss(count: drops ?? 0, reason: "enobufs",
                   detail: drops.map { "the kernel dropped \($0) \(what): the receive queue overflowed; trace fewer packets (a narrower filter or a lower --limit)" }
                       ?? "the kernel dropped \(what) (the receive queue overflowed); their number could not be read from /proc/net/netlink"))
    }

    /// At the end of a session that lost events: the packets the trace rules counted of which
    /// not one event arrived (no path stands for them). Not after --count, which stops reading
    /// while the rules still count.
    func reportUnrecordedPackets(traced: () -> UInt64?) {
        let started = pipeline.started
        guard ended.lost > 0, !pipeline.isDone, let traced = traced(), traced > UInt64(started) else { return }
        let unrecorded = traced - UInt64(started)
        emit(.loss(count: unrecorded, reason: "unrecorded-packets",
                   detail: "fwtrace's trace rules counted \(traced) packets; \(started) became paths, and of the other \(unrecorded) not one event was received"))
    }
}
