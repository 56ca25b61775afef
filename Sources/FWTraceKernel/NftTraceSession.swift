import Glibc
import FWTraceCore

/// One `follow` on the nft backend: installs the trace table, receives trace events, turns them
/// into paths, and removes everything when it ends. Runs on the calling thread (which must be
/// in the traced namespace already).
public final class NftTraceSession {
    public struct Options: Sendable {
        public var session: String
        public var filter: TraceFilter
        public var limit: RateLimit?
        public var count: Int?
        public var timeout: Double?
        public var quietPeriod: Double = 0.1
        public var receiveBuffer: Int = 16 << 20
        /// Trace data read from the kernel but not processed yet, at most (see TraceReceiver).
        public var receiveBacklog: Int = 32 << 20
        /// Writes every datagram received (receive time and hex) to this file: fixtures and bug reports.
        public var capturePath: String?
        /// Legacy backend: have conntrack log invalid packets for the session and attach its reason.
        public var conntrackInvalid = false
        /// Ends the session when readable (the daemon's eventfd); nil: SIGINT/SIGTERM/SIGHUP do.
        public var stopFD: Int32?
        /// Called each time the session goes back to wait for the kernel: the moment to flush
        /// output gathered from the batch just handled.
        public var beforeWait: (@Sendable () -> Void)?
        public init(session: String, filter: TraceFilter, limit: RateLimit?) {
            self.session = session; self.filter = filter; self.limit = limit
        }
    }

    public enum Record {
        case started(RecordEncoder.SessionInfo)
        case path(PacketPath)
        case loss(count: UInt64, reason: String, detail: String?)
    }

    public enum EndReason: String, Sendable { case count, timeout, signal, stopped }

    public struct Summary: Sendable {
        public var paths = 0
        public var reason: EndReason = .signal
        public var lost: UInt64 = 0
        public var events = 0
    }

    let options: Options
    public init(options: Options) { self.options = options }

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

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public func run(emit: @escaping (Record) -> Void) throws -> Summary {
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
        let interfaces = InterfaceNames()
        var config = PathAssembler.Configuration(ownTable: installer.tableName, ownChains: installer.chains)
        config.quietPeriod = options.quietPeriod
        config.filterProtocol = options.filter.proto?.number
        let assembler = PathAssembler(configuration: config, catalog: reader.load())
        var lastReload = Self.now()
        assembler.refreshCatalog = {
            // A handle we do not know: the ruleset changed. Reload, at most 20 times a second.
            let now = Self.now()
            guard now - lastReload > 0.05 else { return nil }
            lastReload = now
            interfaces.invalidate()
            return reader.load()
        }
        assembler.interfaceName = { interfaces.name($0) }

        emit(.started(RecordEncoder.SessionInfo(
            filter: options.filter.summary, families: options.filter.families.map(\.rawValue).sorted(),
            rules: installer.installedRules, limit: options.limit?.nft, table: "inet \(installer.tableName)")))

        var capture: CaptureWriter?
        if let path = options.capturePath { capture = try CaptureWriter(path: path) }
        defer { capture?.close() }

        // When the ruleset changed (a message on `changes`): the catalog is reloaded for events
        // received from then on; older ones still waiting in the backlog keep the old catalog.
        var catalogStaleSince: Double?
        // An overflow reported with ENOBUFS makes the kernel drop every message until the queue
        // has been read empty; without ENOBUFS it drops only what does not fit. Drops are then
        // seen on the kernel's counter after each batch (checkQueue) and reported with their
        // exact number, in at most ten loss records a second (drops not yet reported when the
        // session ends go into its kernel-drops record).
        let watchDrops = traceSocket.disableENOBUFS()
        var dropsSeen = false
        var lastDropReport = -Double.infinity
        let sockets = ListeningSockets()
        var hintContext = HintContext(rules: { assembler.catalog.rulesInChain($0, $1, $2) },
                                      listening: { sockets.isListening(protocolNumber: $0, address: $1, port: $2) })
        let conntrack = ConntrackTable()
        hintContext.controlConnections = { conntrack.controlConnections(between: $0, and: $1) }
        if let native = reader.loadNative() { hintContext.evaluateNativeRules(with: native) }
        let loop = try SessionLoop(options: options, hints: hintContext, emit: emit)
        let keep: (PacketPath) -> Bool = { [options] in options.filter.accepts($0) }

        // A thread of its own reads the kernel's queue into memory, ahead of this one.
        let receiver = try TraceReceiver(socket: traceSocket, backlogBytes: options.receiveBacklog, watchDrops: watchDrops)
        try receiver.start()
        defer { receiver.stop() }

        var done = false
        let names = NameCache()
        /// The receive time of the newest datagram processed: the clock for the quiet period
        /// while the backlog is worked off (the session's own clock would run ahead of the events
        /// and emit paths whose later events still wait in the backlog).
        var processedUpTo: Double?
        var stopped = false
        /// Decodes and assembles what the receive thread read; throws the receive thread's failure.
        func process(_ taken: TraceReceiver.Taken) throws {
            for chunk in taken.chunks {
                defer { receiver.recycle(chunk) }
                for (range, time) in chunk.datagrams where !done {
                    processedUpTo = time
                    if let since = catalogStaleSince, time >= since {
                        assembler.catalog = reader.load()
                        if let native = reader.loadNative() { loop.hints.evaluateNativeRules(with: native) }
                        interfaces.invalidate()
                        catalogStaleSince = nil
                    }
                    if let capture { capture.write(Array(chunk.bytes[range]), time: time) }
                    do {
                        try NetlinkMessage.forEach(in: chunk.bytes, range: range) { message in
                            guard !done, message.type == NftTraceDecoder.messageType else { return }
                            loop.summary.events += 1
                            do {
                                let event = try NftTraceDecoder.decode(chunk.bytes, body: message.body, names: names)
                                if loop.deliver(assembler.ingest(event, at: time), keep: keep) { done = true }
                            } catch {
                                loop.reportUndecodable("\(error)")
                            }
                        }
                    } catch {
                        loop.reportUndecodable("\(error)")
                    }
                }
            }
            // Once stopped, the kernel's drops are counted once, at the stop (dropsAtStop).
            if stopped { if let failure = taken.failure { throw failure }; return }
            if taken.overruns > 0 { loop.reportOverrun(drops: traceSocket.newKernelDrops(), what: "trace events") }
            if taken.dropsSeen { dropsSeen = true }
            if dropsSeen, case let now = Self.now(), now - lastDropReport >= 0.1 {
                if let drops = traceSocket.newKernelDrops(), drops > 0 { loop.reportOverrun(drops: drops, what: "trace events") }
                dropsSeen = false
                lastDropReport = now
            }
            if let failure = taken.failure { throw failure }
        }

        receiving: while case .ready(let ready) = try loop.wait(on: [receiver.ready.fd, changes.fd], pending: assembler.pendingCount > 0) {
            if ready[1] != 0 {
                // A change, or an overrun that may have hidden one: the catalog is stale either way.
                drain: while true {
                    switch try changes.receive() {
                    case .datagram, .overrun: catalogStaleSince = catalogStaleSince ?? Self.now()
                    case .wouldBlock: break drain
                    }
                }
            }
            processedUpTo = nil
            if ready[0] != 0 {
                // A bounded amount per turn (about 8,000 events), so that signals stay responsive;
                // the receiver's descriptor stays readable while more waits.
                try process(receiver.take(maxChunks: 4))
                if done { break receiving }
            }
            if loop.deliver(assembler.expire(now: processedUpTo ?? Self.now()), keep: keep) { break }
        }
        // Stopped by a signal, the daemon or --timeout. The kernel's drop count is taken now:
        // the trace rules stay installed while the backlog is worked off, and what the kernel
        // drops meanwhile (nobody reads the socket any more) is not the session's loss.
        receiver.stop()
        stopped = true
        let dropsAtStop = traceSocket.newKernelDrops()
        // And the packets traced until now, for the same reason (unrecorded-packets).
        let tracedAtStop = installer.tracedPackets()
        // What was already read is processed (after --count nothing more is wanted), for at most
        // `drainLimit` seconds; what is left then is reported as a loss, never dropped unseen.
        if loop.summary.reason != .count {
            let deadline = monotonicSeconds() + Self.drainLimit
            while case let taken = receiver.take(maxChunks: 4), !taken.chunks.isEmpty || taken.dropsSeen || taken.overruns > 0 || taken.failure != nil {
                if monotonicSeconds() > deadline {
                    var left = taken.chunks.reduce(0) { $0 + Self.traceMessages(in: $1) }
                    for chunk in taken.chunks { receiver.recycle(chunk) }
                    while case let rest = receiver.take(maxChunks: .max), !rest.chunks.isEmpty {
                        left += rest.chunks.reduce(0) { $0 + Self.traceMessages(in: $1) }
                        for chunk in rest.chunks { receiver.recycle(chunk) }
                    }
                    if left > 0 {
                        loop.summary.lost += UInt64(left)
                        emit(.loss(count: UInt64(left), reason: "unprocessed",
                                   detail: "\(left) trace events read from the kernel were still waiting when the session stopped, after \(Self.drainLimit) s of working off the backlog"))
                    }
                    break
                }
                try process(taken)
                if done { break }
            }
        }
        if loop.summary.reason != .count { _ = loop.deliver(assembler.flush(), keep: keep) }
        if let drops = dropsAtStop, drops > 0 {
            loop.summary.lost += drops
            emit(.loss(count: drops, reason: "kernel-drops", detail: "the kernel dropped \(drops) trace events for this session"))
        }
        loop.reportUnrecordedPackets(traced: tracedAtStop, started: assembler.started)
        return loop.summary
    }
}
