import FWTraceCore

/// The receive path both backends run: a TraceReceiver thread reads the socket into memory ahead
/// of the session; each turn hands a bounded part of that backlog to the loop and reports the
/// kernel's drops with their exact number (the socket's own drop counter); at the stop it works
/// off what was read, for at most `drainLimit` seconds, and reports what is left as lost.
final class BackloggedReceive {
    /// How long a stopping session works off its backlog before it reports the rest as lost.
    static let drainLimit = 0.5

    let socket: NetlinkGroupSocket
    private let receiver: TraceReceiver
    /// The trace messages' netlink type (to count what was not processed) and their name in
    /// loss records.
    private let messageType: UInt16
    private let what: String
    // An overflow reported with ENOBUFS makes the kernel drop every message until the queue
    // has been read empty; without ENOBUFS it drops only what does not fit. Drops are then
    // seen on the kernel's counter after each batch and reported with their exact number, in
    // at most ten loss records a second (drops not yet reported when the session ends go into
    // its kernel-drops record).
    private var dropsSeen = false
    private var lastDropReport = -Double.infinity
    /// The receive time of the newest datagram processed in the last turn: the clock for the
    /// quiet period while the backlog is worked off (the session's own clock would run ahead of
    /// the events and emit paths whose later events still wait in the backlog).
    private(set) var processedUpTo: Double?
    private var stopped = false
    /// --count paths were delivered.
    private(set) var done = false

    /// Starts the receive thread on `socket` (in the caller's network namespace).
    init(socket: NetlinkGroupSocket, backlogBytes: Int, messageType: UInt16, what: String) throws {
        self.socket = socket
        self.messageType = messageType
        self.what = what
        receiver = try TraceReceiver(socket: socket, backlogBytes: backlogBytes, watchDrops: socket.disableENOBUFS())
        try receiver.start()
    }

    /// What the session polls: readable while read datagrams wait.
    var readyFD: Int32 { receiver.ready.fd }

    /// One turn: a bounded amount (about 8,000 trace events), so that signals stay responsive;
    /// the ready descriptor stays readable while more waits. `before` runs before each datagram
    /// with its receive time.
    func turn(_ loop: SessionLoop, before: (Double) -> Void = { _ in }) throws {
        processedUpTo = nil
        try process(receiver.take(maxChunks: 4), loop: loop, before: before)
    }

    /// Stops reading: the kernel's drops not yet reported, counted now (what it drops while the
    /// backlog is worked off, with nobody reading, is not the session's loss).
    func stop() -> UInt64? {
        receiver.stop()
        stopped = true
        return socket.newKernelDrops()
    }

    /// Ends the receive thread (a second call does nothing).
    func close() { receiver.stop() }

    /// Feeds what the receive thread read; throws the receive thread's failure.
    private func process(_ taken: TraceReceiver.Taken, loop: SessionLoop, before: (Double) -> Void) throws {
        for chunk in taken.chunks {
            defer { receiver.recycle(chunk) }
            for (range, time) in chunk.datagrams where !done {
                processedUpTo = time
                before(time)
                if loop.deliver(chunk.bytes, range: range, at: time) { done = true }
            }
        }
        // Once stopped, the kernel's drops are counted once, at the stop.
        if stopped { if let failure = taken.failure { throw failure }; return }
        if taken.overruns > 0 { loop.reportOverrun(drops: socket.newKernelDrops(), what: what) }
        if taken.dropsSeen { dropsSeen = true }
        if dropsSeen, case let now = SystemClock.monotonic(), now - lastDropReport >= 0.1 {
            if let drops = socket.newKernelDrops(), drops > 0 { loop.reportOverrun(drops: drops, what: what) }
            dropsSeen = false
            lastDropReport = now
        }
        if let failure = taken.failure { throw failure }
    }

    /// What was already read is processed (after --count nothing more is wanted), for at most
    /// `drainLimit` seconds; what is left then is reported as a loss, never dropped unseen.
    func drain(_ loop: SessionLoop, before: (Double) -> Void = { _ in }) throws {
        let deadline = SystemClock.monotonic() + Self.drainLimit
        while case let taken = receiver.take(maxChunks: 4), !taken.chunks.isEmpty || taken.dropsSeen || taken.overruns > 0 || taken.failure != nil {
            if SystemClock.monotonic() > deadline {
                var left = taken.chunks.reduce(0) { $0 + traceMessages(in: $1) }
                for chunk in taken.chunks { receiver.recycle(chunk) }
                while case let rest = receiver.take(maxChunks: .max), !rest.chunks.isEmpty {
                    left += rest.chunks.reduce(0) { $0 + traceMessages(in: $1) }
                    for chunk in rest.chunks { receiver.recycle(chunk) }
                }
                if left > 0 {
                    loop.addLoss(UInt64(left))
                    loop.emit(.loss(count: UInt64(left), reason: "unprocessed",
                                    detail: "\(left) \(what) read from the kernel were still waiting when the session stopped, after \(Self.drainLimit) s of working off the backlog"))
                }
                return
            }
            try process(taken, loop: loop, before: before)
            if done { return }
        }
    }

    /// Trace messages in a chunk of datagrams (for the count of what was not processed).
    private func traceMessages(in chunk: TraceReceiver.Chunk) -> Int {
        var n = 0
        for (range, _) in chunk.datagrams {
            try? NetlinkMessage.forEach(in: chunk.bytes, range: range) { if $0.type == messageType { n += 1 } }
        }
        return n
    }
}
