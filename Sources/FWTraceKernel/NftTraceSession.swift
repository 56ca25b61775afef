import Glibc
import FWTraceCore

/// One `follow` on the nft backend: installs the trace table, receives trace events into the
/// trace pipeline, reloads the rules when it says so or the ruleset changes, and removes
/// everything when it ends. Runs on the calling thread (which must be in the traced namespace).
public final class NftTraceSession {
    let options: TraceSessionOptions
    public init(options: TraceSessionOptions) { self.options = options }

    /// How long a stopping session works off its backlog before it reports the rest as lost.
    static let drainLimit = 0.5

    /// Trace messages in a chunk of datagrams (for the count of what was not processed).
    static func traceMessages(in chunk: TraceReceiver.Chunk) -> Int {
        var n = 0
        for (range, _) in chunk.datagrams {
            try? NetlinkMessage.forEach(in: chunk.bytes, range: range) { if $0.type == NftTraceDecoder.messageType { n += 1 } }
        }
        return n
    }

    public func run(emit: @escaping (TraceRecord) -> Void) throws -> TraceSummary {
        let context = try NftablesContext()
        defer { context.close() }
        // Listen before installing, so the first traced packet is not missed.
        let traceSocket = try NetlinkGroupSocket.traceEvents(receiveBuffer: options.receiveBuffer)
        defer { traceSocket.close() }
        let installer = NftTraceInstaller(session: options.session, context: context)
        try installer.install(filter: options.filter, limit: options.limit, session: options.session)
        defer { installer.remove() }
        let changes = try NetlinkGroupSocket.rulesetChanges()
        defer { changes.close() }

        let reader = RulesetReader(context: context)
        reader.namespaceName = options.namespaceName
        let interfaces = InterfaceNames()
        let pipeline = makePipeline(installer: installer, rules: TracePipeline.Rules(catalog: reader.load(), native: reader.loadNative(),
                                                                           tools: reader.tools()),
                                    interfaces: interfaces)
        emit(.started(RecordEncoder.SessionInfo(
            filter: options.filter.summary, families: options.filter.families.map(\.rawValue).sorted(),
            rules: installer.installedRules, limit: options.limit?.nft, table: "inet \(installer.tableName)")))

        var capture: CaptureWriter?
        if let path = options.capturePath { capture = try CaptureWriter(path: path) }
        defer { capture?.close() }
        let loop = try SessionLoop(options: options, pipeline: pipeline, emit: emit)
        // A thread of its own reads the kernel's queue into memory, ahead of this one.
        let receiver = try TraceReceiver(socket: traceSocket, backlogBytes: options.receiveBacklog, watchDrops: traceSocket.disableENOBUFS())
        try receiver.start()
        defer { receiver.stop() }
        let io = NftSessionIO(loop: loop, receiver: receiver, socket: traceSocket, reader: reader, interfaces: interfaces, capture: capture)
        try io.receive(changes: changes)
        // Stopped by a signal, the daemon or --timeout. The kernel's drop count is taken now:
        // the trace rules stay installed while the backlog is worked off, and what the kernel
        // drops meanwhile (nobody reads the socket any more) is not the session's loss.
        receiver.stop()
        io.stopped = true
        let dropsAtStop = traceSocket.newKernelDrops()
        // And the packets traced until now, for the same reason (unrecorded-packets).
        let tracedAtStop = installer.tracedPackets()
        if !loop.reachedCount { try io.drain() }
        loop.flushUnlessCounted()
        if let drops = dropsAtStop, drops > 0 {
            loop.addLoss(drops)
            emit(.loss(count: drops, reason: "kernel-drops", detail: "the kernel dropped \(drops) trace events for this session"))
        }
        loop.reportUnrecordedPackets(traced: tracedAtStop)
        return loop.summary
    }

    func makePipeline(installer: NftTraceInstaller, rules: TracePipeline.Rules, interfaces: InterfaceNames) -> TracePipeline {
        var config = PathAssembler.Configuration(ownTable: installer.tableName, ownChains: installer.chains)
        config.quietPeriod = options.quietPeriod
        config.filterProtocol = options.filter.proto?.number
        var pipelineOptions = TracePipeline.Options()
        pipelineOptions.filter = options.filter
        pipelineOptions.count = options.count
        pipelineOptions.interfaceName = { interfaces.name($0) }
        let sockets = ListeningSockets()
        let conntrack = ConntrackTable()
        pipelineOptions.environment.listening = { sockets.isListening(protocolNumber: $0, address: $1, port: $2) }
        pipelineOptions.environment.controlConnections = { conntrack.controlConnections(between: $0, and: $1) }
        return TracePipeline(backend: .nft(config), rules: rules, options: pipelineOptions)
    }
}

/// The nft session's receiving: datagrams from the receive thread into the pipeline, the
/// ruleset's change notifications, the kernel's drop counter, the drain at the stop.
final class NftSessionIO {
    let loop: SessionLoop
    let receiver: TraceReceiver
    let socket: NetlinkGroupSocket
    let reader: RulesetReader
    let interfaces: InterfaceNames
    let capture: CaptureWriter?
    /// When the ruleset changed (a message on `changes`): the rules are reloaded for events
    /// received from then on; older ones still waiting in the backlog keep the old rules.
    var rulesStaleSince: Double?
    // An overflow reported with ENOBUFS makes the kernel drop every message until the queue
    // has been read empty; without ENOBUFS it drops only what does not fit. Drops are then
    // seen on the kernel's counter after each batch and reported with their exact number, in
    // at most ten loss records a second (drops not yet reported when the session ends go into
    // its kernel-drops record).
    var dropsSeen = false
    var lastDropReport = -Double.infinity
    /// The receive time of the newest datagram processed: the clock for the quiet period while
    /// the backlog is worked off (the session's own clock would run ahead of the events and emit
    /// paths whose later events still wait in the backlog).
    var processedUpTo: Double?
    var stopped = false
    var done = false

    init(loop: SessionLoop, receiver: TraceReceiver, socket: NetlinkGroupSocket, reader: RulesetReader,
         interfaces: InterfaceNames, capture: CaptureWriter?) {
        self.loop = loop; self.receiver = receiver; self.socket = socket; self.reader = reader
        self.interfaces = interfaces; self.capture = capture
    }

    /// A rule the catalog lacks: the catalog again (the native form stays until the ruleset's
    /// change notification reloads it).
    func reloadCatalog() -> TracePipeline.Rules {
        interfaces.invalidate()
        var rules = loop.pipeline.rules
        rules.catalog = reader.load()
        rules.tools = reader.tools()
        return rules
    }

    func receive(changes: NetlinkGroupSocket) throws {
        while case .ready(let ready) = try loop.wait(on: [receiver.ready.fd, changes.fd]) {
            if ready[1] != 0 {
                // A change, or an overrun that may have hidden one: the rules are stale either way.
                drain: while true {
                    switch try changes.receive() {
                    case .datagram, .overrun: rulesStaleSince = rulesStaleSince ?? SystemClock.now()
                    case .wouldBlock: break drain
                    }
                }
            }
            processedUpTo = nil
            if ready[0] != 0 {
                // A bounded amount per turn (about 8,000 events), so that signals stay responsive;
                // the receiver's descriptor stays readable while more waits.
                try process(receiver.take(maxChunks: 4))
                if done { return }
            }
            if loop.expire(now: processedUpTo ?? SystemClock.now()) { return }
        }
    }

    /// Feeds what the receive thread read; throws the receive thread's failure.
    func process(_ taken: TraceReceiver.Taken) throws {
        for chunk in taken.chunks {
            defer { receiver.recycle(chunk) }
            for (range, time) in chunk.datagrams where !done {
                processedUpTo = time
                if let since = rulesStaleSince, time >= since {
                    var rules = loop.pipeline.rules
                    rules.catalog = reader.load()
                    rules.tools = reader.tools()
                    if let native = reader.loadNative() { rules.native = native }
                    loop.pipeline.replaceRules(rules)
                    interfaces.invalidate()
                    rulesStaleSince = nil
                }
                if let capture { capture.write(Array(chunk.bytes[range]), time: time) }
                if loop.feed(chunk.bytes, range: range, at: time, reload: reloadCatalog) { done = true }
            }
        }
        // Once stopped, the kernel's drops are counted once, at the stop (dropsAtStop).
        if stopped { if let failure = taken.failure { throw failure }; return }
        if taken.overruns > 0 { loop.reportOverrun(drops: socket.newKernelDrops(), what: "trace events") }
        if taken.dropsSeen { dropsSeen = true }
        if dropsSeen, case let now = SystemClock.monotonic(), now - lastDropReport >= 0.1 {
            if let drops = socket.newKernelDrops(), drops > 0 { loop.reportOverrun(drops: drops, what: "trace events") }
            dropsSeen = false
            lastDropReport = now
        }
        if let failure = taken.failure { throw failure }
    }

    /// What was already read is processed (after --count nothing more is wanted), for at most
    /// `drainLimit` seconds; what is left then is reported as a loss, never dropped unseen.
    func drain() throws {
        let deadline = SystemClock.monotonic() + NftTraceSession.drainLimit
        while case let taken = receiver.take(maxChunks: 4), !taken.chunks.isEmpty || taken.dropsSeen || taken.overruns > 0 || taken.failure != nil {
            if SystemClock.monotonic() > deadline {
                var left = taken.chunks.reduce(0) { $0 + NftTraceSession.traceMessages(in: $1) }
                for chunk in taken.chunks { receiver.recycle(chunk) }
                while case let rest = receiver.take(maxChunks: .max), !rest.chunks.isEmpty {
                    left += rest.chunks.reduce(0) { $0 + NftTraceSession.traceMessages(in: $1) }
                    for chunk in rest.chunks { receiver.recycle(chunk) }
                }
                if left > 0 {
                    loop.addLoss(UInt64(left))
                    loop.emit(.loss(count: UInt64(left), reason: "unprocessed",
                                    detail: "\(left) trace events read from the kernel were still waiting when the session stopped, after \(NftTraceSession.drainLimit) s of working off the backlog"))
                }
                return
            }
            try process(taken)
            if done { return }
        }
    }
}
