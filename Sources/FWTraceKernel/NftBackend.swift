import FWTraceCore

/// The nft backend's I/O: installs the trace table, receives trace events on a thread of its own
/// (TraceReceiver) and hands them to the loop, reloads the rules when the pipeline says so or the
/// ruleset changes, and removes everything when the session ends.
final class NftBackend: TraceBackend {
    let options: TraceSessionOptions
    init(options: TraceSessionOptions) { self.options = options }

    /// How long a stopping session works off its backlog before it reports the rest as lost.
    static let drainLimit = 0.5

    // What `install` set up, in that order; `remove` undoes it in reverse.
    private var context: NftablesContext?
    private var traceSocket: NetlinkGroupSocket?
    private var installer: NftTraceInstaller?
    private var changes: NetlinkGroupSocket?
    private var reader: RulesetReader?
    private var receiver: TraceReceiver?
    private let interfaces = InterfaceNames()

    /// When the ruleset changed (a message on `changes`): the rules are reloaded for events
    /// received from then on; older ones still waiting in the backlog keep the old rules.
    private var rulesStaleSince: Double?
    // An overflow reported with ENOBUFS makes the kernel drop every message until the queue
    // has been read empty; without ENOBUFS it drops only what does not fit. Drops are then
    // seen on the kernel's counter after each batch and reported with their exact number, in
    // at most ten loss records a second (drops not yet reported when the session ends go into
    // its kernel-drops record).
    private var dropsSeen = false
    private var lastDropReport = -Double.infinity
    /// The receive time of the newest datagram processed: the clock for the quiet period while
    /// the backlog is worked off (the session's own clock would run ahead of the events and emit
    /// paths whose later events still wait in the backlog).
    private var processedUpTo: Double?
    private var stopped = false
    private var done = false

    func install(notice: (String) -> Void) throws -> TraceBackendSetup {
        let context = try NftablesContext()
        self.context = context
        // Listen before installing, so the first traced packet is not missed.
        let traceSocket = try NetlinkGroupSocket.traceEvents(receiveBuffer: options.receiveBuffer)
        self.traceSocket = traceSocket
        let installer = NftTraceInstaller(session: options.session, context: context)
        try installer.install(filters: options.filters, limit: options.limit, session: options.session)
        self.installer = installer
        changes = try NetlinkGroupSocket.rulesetChanges()
        let reader = RulesetReader(context: context)
        reader.namespaceName = options.namespaceName
        self.reader = reader
        let ruleset = reader.loadWithJSON().withOwners(reader.tools())
        var config = PathAssembler.Configuration(ownTable: installer.tableName, ownChains: installer.chains)
        config.quietPeriod = options.quietPeriod
        config.filterProtocol = options.filter.proto?.number
        let info = RecordEncoder.SessionInfo(
            filter: options.filter.summary, families: options.filter.families.map(\.rawValue).sorted(),
            rules: installer.installedRules, limit: options.limit?.nft, table: "inet \(installer.tableName)")
        return TraceBackendSetup(info: info, pipeline: .nft(config), ruleset: ruleset, interfaces: interfaces)
    }

    func startReceiving(_ loop: SessionLoop) throws -> [Int32] {
        guard let traceSocket, let changes else { preconditionFailure("startReceiving before install") }
        // A thread of its own reads the kernel's queue into memory, ahead of this one.
        let receiver = try TraceReceiver(socket: traceSocket, backlogBytes: options.receiveBacklog, watchDrops: traceSocket.disableENOBUFS())
        self.receiver = receiver
        try receiver.start()
        return [receiver.ready.fd, changes.fd]
    }

    func receive(_ ready: [PollSet.Events], loop: SessionLoop) throws -> ReceiveTurn {
        if !ready[1].isEmpty, let changes {
            // A change, or an overrun that may have hidden one: the rules are stale either way.
            drain: while true {
                switch try changes.receive() {
                case .datagram, .overrun: rulesStaleSince = rulesStaleSince ?? SystemClock.now()
                case .wouldBlock: break drain
                }
            }
        }
        processedUpTo = nil
        if !ready[0].isEmpty, let receiver {
            // A bounded amount per turn (about 8,000 events), so that signals stay responsive;
            // the receiver's descriptor stays readable while more waits.
            try process(receiver.take(maxChunks: 4), loop: loop)
            if done { return .countReached }
        }
        return .received(clock: processedUpTo)
    }

    /// A rule the ruleset lacks: the text listing again; the rules' JSON expressions are kept
    /// from the old one until the ruleset's change notification reloads them.
    func reloadRuleset(_ current: Ruleset) -> Ruleset {
        interfaces.invalidate()
        guard let reader else { return current }
        var fresh = reader.load()
        fresh.keepExpressions(from: current)
        return fresh.withOwners(reader.tools())
    }

    func stopReceiving(_ loop: SessionLoop) throws -> TraceBackendStop {
        // The kernel's drop count is taken now: the trace rules stay installed while the backlog
        // is worked off, and what the kernel drops meanwhile (nobody reads the socket any more)
        // is not the session's loss.
        receiver?.stop()
        stopped = true
        let dropsAtStop = traceSocket?.newKernelDrops()
        // And the packets traced until now, for the same reason (unrecorded-packets).
        let tracedAtStop = installer?.tracedPackets()
        if !loop.reachedCount { try drain(loop) }
        return TraceBackendStop(kernelDrops: dropsAtStop, tracedPackets: { tracedAtStop })
    }

    func remove() {
        receiver?.stop(); receiver = nil
        changes?.close(); changes = nil
        installer?.remove(); installer = nil
        traceSocket?.close(); traceSocket = nil
        context?.close(); context = nil
    }

    /// Feeds what the receive thread read; throws the receive thread's failure.
    private func process(_ taken: TraceReceiver.Taken, loop: SessionLoop) throws {
        guard let receiver, let traceSocket else { return }
        for chunk in taken.chunks {
            defer { receiver.recycle(chunk) }
            for (range, time) in chunk.datagrams where !done {
                processedUpTo = time
                if let since = rulesStaleSince, time >= since, let reader {
                    var fresh = reader.load()
                    if let json = reader.loadJSON() { fresh.addNftJSON(json) } else { fresh.keepExpressions(from: loop.pipeline.ruleset) }
                    loop.pipeline.replaceRuleset(fresh)
                    interfaces.invalidate()
                    rulesStaleSince = nil
                }
                if loop.deliver(chunk.bytes, range: range, at: time) { done = true }
            }
        }
        // Once stopped, the kernel's drops are counted once, at the stop (dropsAtStop).
        if stopped { if let failure = taken.failure { throw failure }; return }
        if taken.overruns > 0 { loop.reportOverrun(drops: traceSocket.newKernelDrops(), what: "trace events") }
        if taken.dropsSeen { dropsSeen = true }
        if dropsSeen, case let now = SystemClock.monotonic(), now - lastDropReport >= 0.1 {
            if let drops = traceSocket.newKernelDrops(), drops > 0 { loop.reportOverrun(drops: drops, what: "trace events") }
            dropsSeen = false
            lastDropReport = now
        }
        if let failure = taken.failure { throw failure }
    }

    /// What was already read is processed (after --count nothing more is wanted), for at most
    /// `drainLimit` seconds; what is left then is reported as a loss, never dropped unseen.
    private func drain(_ loop: SessionLoop) throws {
        guard let receiver else { return }
        let deadline = SystemClock.monotonic() + Self.drainLimit
        while case let taken = receiver.take(maxChunks: 4), !taken.chunks.isEmpty || taken.dropsSeen || taken.overruns > 0 || taken.failure != nil {
            if SystemClock.monotonic() > deadline {
                var left = taken.chunks.reduce(0) { $0 + Self.traceMessages(in: $1) }
                for chunk in taken.chunks { receiver.recycle(chunk) }
                while case let rest = receiver.take(maxChunks: .max), !rest.chunks.isEmpty {
                    left += rest.chunks.reduce(0) { $0 + Self.traceMessages(in: $1) }
                    for chunk in rest.chunks { receiver.recycle(chunk) }
                }
                if left > 0 {
                    loop.addLoss(UInt64(left))
                    loop.emit(.loss(count: UInt64(left), reason: "unprocessed",
                                    detail: "\(left) trace events read from the kernel were still waiting when the session stopped, after \(Self.drainLimit) s of working off the backlog"))
                }
                return
            }
            try process(taken, loop: loop)
            if done { return }
        }
    }

    /// Trace messages in a chunk of datagrams (for the count of what was not processed).
    static func traceMessages(in chunk: TraceReceiver.Chunk) -> Int {
        var n = 0
        for (range, _) in chunk.datagrams {
            try? NetlinkMessage.forEach(in: chunk.bytes, range: range) { if $0.type == NftTraceDecoder.messageType { n += 1 } }
        }
        return n
    }
}
