import FWTraceCore
import FWTraceKernel

/// One control connection: checks the peer, reads one request (bounded in size and time), answers
/// `status`, or runs a `follow` session and streams its records until the session ends or the
/// client goes away. A client that stops reading is cut off; the daemon never waits on it.
final class ClientHandler: @unchecked Sendable {
    let connection: FileDescriptor
    unowned let daemon: Daemon

    init(connection: FileDescriptor, daemon: Daemon) { self.connection = connection; self.daemon = daemon }

    func run() {
        defer { connection.close() }
        guard let peer = PeerCredentials.of(connection) else { return }
        guard peer.isAuthorized(group: daemon.groupID) else {
            Daemon.log("refused a control connection from \(peer): not root and not in group \(daemon.settings.current.socketGroup)", priority: 4)
            reply(ProtocolError("not-authorized", "\(peer.userName) is not in group \(daemon.settings.current.socketGroup): ask an admin to add you (usermod -aG \(daemon.settings.current.socketGroup) \(peer.userName)) or run fwtrace follow --standalone as root", exit: ExitCode.noPrivilege).line)
            return
        }
        let request: ControlRequest
        do {
            request = try ControlRequest.parse(try readRequest())
        } catch let error as ProtocolError {
            Daemon.log("control request from \(peer) refused: \(error.code): \(error.message)", priority: 4)
            reply(error.line)
            return
        } catch {
            return
        }
        switch request.operation {
        case .status:
            reply(daemon.statusJSON())
        case .follow:
            do { try follow(request, peer: peer) } catch let error as ProtocolError {
                Daemon.log("follow from \(peer) refused: \(error.code): \(error.message)", priority: 4)
                reply(error.line)
            } catch {
                reply(ProtocolError("failed", "\(error)").line)
            }
        }
    }

    /// One line, at most 64 KiB, within request_timeout.
    func readRequest() throws -> [UInt8] {
        let deadline = SystemClock.monotonic() + daemon.settings.current.requestTimeout
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        var set = PollSet()
        set.add(connection)
        while true {
            let remaining = deadline - SystemClock.monotonic()
            guard remaining > 0 else { throw ProtocolError("request-timeout", "no complete request line within \(daemon.settings.current.requestTimeout) s", exit: ExitCode.usage) }
            guard let ready = try? set.wait(timeout: remaining) else { throw ProtocolError("failed", "poll failed") }
            if ready[0].isEmpty { continue }
            let connection = self.connection
            guard let n = try? chunk.withUnsafeMutableBytes({ (raw) throws(SystemError) in try connection.receive(into: raw) }) else {
                throw ProtocolError("failed", "recv failed")
            }
            if n == 0 {
                guard !buffer.isEmpty else { throw ProtocolError("bad-request", "the connection closed before a request", exit: ExitCode.usage) }
                return buffer
            }
            if let newline = chunk[0..<n].firstIndex(of: 0x0a) {
                buffer.append(contentsOf: chunk[0..<newline])
                guard buffer.count <= ControlProtocol.maxRequestBytes else { break }
                return buffer
            }
            buffer.append(contentsOf: chunk[0..<n])
            if buffer.count > ControlProtocol.maxRequestBytes { break }
        }
        throw ProtocolError("too-large", "the request is larger than \(ControlProtocol.maxRequestBytes) bytes; the connection is closed", exit: ExitCode.usage)
    }

    /// A short answer, then the connection closes: sent with a 2 s bound, never waited on longer.
    func reply(_ line: String) {
        try? connection.setSendTimeout(seconds: 2)
        try? connection.writeAll(Array((line + "\n").utf8))
    }

    /// The client's request as a trace, checked: every refusal is a ProtocolError for the client.
    static func traceJob(_ request: ControlRequest, peer: PeerCredentials) throws -> (TraceJob, RateLimit) {
        let filter: TraceFilter
        let limit: RateLimit
        do {
            filter = try request.filter.makeFilter()
            limit = try RateLimit.parse(request.limit)
        } catch let error as FilterError {
            throw ProtocolError("bad-filter", error.description, exit: ExitCode.usage)
        }
        var job = TraceJob(filter: filter, limit: limit)
        job.options.count = request.count
        if let text = request.timeout {
            guard let t = try? DurationParser.parse(text), t > 0 else { throw ProtocolError("bad-request", "invalid timeout '\(ControlProtocol.echo(text))': 500ms, 10s, 2m", exit: ExitCode.usage) }
            job.options.timeout = t
            job.timeoutText = text
        }
        if let text = request.quietPeriod {
            guard let quiet = try? DurationParser.parse(text), Bounds.quietPeriod.contains(quiet) else {
                throw ProtocolError("bad-request", "invalid quiet_period '\(ControlProtocol.echo(text))': 1ms to 5s, like 100ms", exit: ExitCode.usage)
            }
            job.options.quietPeriod = quiet
        }
        guard let backend = TraceJob.BackendChoice(rawValue: request.backend) else {
            throw ProtocolError("bad-request", "invalid backend '\(ControlProtocol.echo(request.backend))': auto, nft or legacy", exit: ExitCode.usage)
        }
        job.backend = backend
        if let netns = request.netns, peer.uid != 0, netns.allSatisfy(\.isNumber) {
            // A PID's namespace may be one the client made itself (unshare -Urn), where root would
            // then read a ruleset the client controls. Names under /run/netns are root's.
            throw ProtocolError("bad-request", "through the daemon, only root may name a namespace by PID; use its `ip netns` name", exit: ExitCode.usage)
        }
        job.allNamespaces = request.allNetns
        if let netns = request.netns {
            do { job.namespace = try NetworkNamespace.resolve(netns) } catch let error as UserFacingError {
                throw ProtocolError("unavailable", error.message, exit: error.exitCode)
            }
        }
        return (job, limit)
    }

    func follow(_ request: ControlRequest, peer: PeerCredentials) throws {
        var (job, limit) = try Self.traceJob(request, peer: peer)
        let session = job.options.session, filter = job.options.filter
        let settings = daemon.settings.current
        // Every namespace gets the limit: as many as the rate others leave allows (at least one).
        if job.allNamespaces {
            job.maxNamespaces = DaemonConfig.namespaceBound(perSecond: limit.perSecond, available: settings.maxTraceRate - daemon.registry.usedRate)
        }
        let queue = try BoundedQueue<OutputRecord>(capacity: settings.clientBuffer)
        let runner = try TraceRunner(job: job, output: { queue.push($0) }, log: { Daemon.log($0) }, onEnd: { queue.wakeup.signal() })
        try daemon.registry.reserve(SessionRegistry.Entry(kind: .client, name: peer.userName, peer: peer, filter: filter.summary, netns: request.allNetns ? "all" : request.netns,
                                                          limit: "\(limit.count)/\(limit.unit)", rate: limit.perSecond * Double(job.allNamespaces ? job.maxNamespaces : 1), runner: runner),
                                    session: session, limits: settings)
        defer { daemon.registry.release(session) }
        reply(ControlLine.accepted(session: session))
        Daemon.log("session \(session) for \(peer): follow \(filter.summary)\(request.allNetns ? " in every namespace (at most \(job.maxNamespaces) at once)" : request.netns.map { " in netns \($0)" } ?? ""), limit \(limit.count)/\(limit.unit)")
        try runner.start()
        var stream = ClientStream(connection: connection, queue: queue, runner: runner, request: request, settings: settings,
                                  session: session, peer: peer, daemon: daemon)
        let gone = stream.run()
        runner.requestStop()
        runner.join(until: SystemClock.monotonic() + settings.stopTimeout)
        let stats = runner.stats.current
        Daemon.log("session \(session) for \(peer.userName) ended\(gone.map { ": \($0)" } ?? ""): \(stats.paths) paths, \(stats.lost) lost")
    }
}
