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
        /// Writes every datagram received (receive time and hex) to this file: fixtures and bug reports.
        public var capturePath: String?
        /// Legacy backend: have conntrack log invalid packets for the session and attach its reason.
        public var conntrackInvalid = false
        public init(session: String, filter: TraceFilter, limit: RateLimit?) {
            self.session = session; self.filter = filter; self.limit = limit
        }
    }

    public enum Record {
        case started(RecordEncoder.SessionInfo)
        case path(PacketPath)
        case loss(count: UInt64, reason: String, detail: String?)
    }

    public enum EndReason: String, Sendable { case count, timeout, signal }

    public struct Summary: Sendable {
        public var paths = 0
        public var reason: EndReason = .signal
        public var lost: UInt64 = 0
        public var events = 0
    }

    let options: Options
    public init(options: Options) { self.options = options }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public func run(emit: (Record) -> Void) throws -> Summary {
        let signalFD = try Signals.makeFD()
        defer { close(signalFD) }
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

        var summary = Summary()
        let started = Self.now()
        var catalogStale = false
        let sockets = ListeningSockets()
        var hintContext = HintContext(rules: { assembler.catalog.rulesInChain($0, $1, $2) },
                                      listening: { sockets.isListening(protocolNumber: $0, address: $1, port: $2) })
        hintContext.controlConnections = { ConntrackTable.controlConnections(between: $0, and: $1) }
        func deliver(_ paths: [PacketPath]) -> Bool {
            for var path in paths where options.filter.accepts(path) {
                path.hints = HintEngine.hints(for: path, context: hintContext)
                emit(.path(path))
                summary.paths += 1
                if let count = options.count, summary.paths >= count { summary.reason = .count; return true }
            }
            return false
        }

        var fds = [pollfd(fd: traceSocket.fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: changes.fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)]
        loop: while true {
            let now = Self.now()
            if let timeout = options.timeout, now - started >= timeout { summary.reason = .timeout; break }
            var wait = assembler.pendingCount > 0 ? options.quietPeriod / 2 : 0.5
            if let timeout = options.timeout { wait = min(wait, max(0, timeout - (now - started))) }
            let ready = poll(&fds, nfds_t(fds.count), Int32((wait * 1000).rounded(.up)))
            if ready < 0 && errno != EINTR { throw SystemError("poll") }

            if fds[2].revents != 0, Signals.read(signalFD) != nil { summary.reason = .signal; break }
            if fds[1].revents != 0 {
                while case .datagram = try changes.receive() { catalogStale = true }
            }
            if fds[0].revents != 0 {
                // Drain what is queued, a bounded amount per turn so signals stay responsive.
                for _ in 0..<256 {
                    let received = try traceSocket.receive()
                    guard case .datagram(let bytes) = received else {
                        if case .overrun = received {
                            let drops = traceSocket.newKernelDrops()
                            summary.lost += drops ?? 0
                            emit(.loss(count: drops ?? 0, reason: "enobufs",
                                       detail: drops.map { "the kernel dropped \($0) trace events: the receive queue overflowed; trace fewer packets (a narrower filter or a lower --limit)" }
                                           ?? "the kernel dropped trace events (the receive queue overflowed); their number could not be read from /proc/net/netlink"))
                            continue
                        }
                        break
                    }
                    if catalogStale {
                        assembler.catalog = reader.load()
                        interfaces.invalidate()
                        catalogStale = false
                    }
                    let time = Self.now()
                    capture?.write(bytes, time: time)
                    let messages: [NetlinkMessage]
                    do { messages = try NetlinkMessage.split(bytes) } catch {
                        emit(.loss(count: 1, reason: "decode-error", detail: "\(error)"))
                        continue
                    }
                    for message in messages where message.type == NftTraceDecoder.messageType {
                        summary.events += 1
                        do {
                            let event = try NftTraceDecoder.decode(bytes, body: message.body)
                            if deliver(assembler.ingest(event, at: time)) { break loop }
                        } catch {
                            emit(.loss(count: 1, reason: "decode-error", detail: "\(error)"))
                        }
                    }
                }
            }
            if deliver(assembler.expire(now: Self.now())) { break }
        }
        if summary.reason != .count { _ = deliver(assembler.flush()) }
        if let drops = traceSocket.newKernelDrops(), drops > 0 {
            summary.lost += drops
            emit(.loss(count: drops, reason: "kernel-drops", detail: "the kernel dropped \(drops) trace events for this session"))
        }
        return summary
    }
}
