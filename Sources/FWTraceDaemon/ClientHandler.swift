import Foundation
import Glibc
import FWTraceCore
import FWTraceKernel

/// One control connection: checks the peer, reads one request (bounded in size and time), answers
/// `status`, or runs a `follow` session and streams its records until the session ends or the
/// client goes away. A client that stops reading is cut off; the daemon never waits on it.
final class ClientHandler: @unchecked Sendable {
    let fd: Int32
    unowned let daemon: Daemon

    init(fd: Int32, daemon: Daemon) { self.fd = fd; self.daemon = daemon }

    func run() {
        defer { close(fd) }
        guard let peer = PeerCredentials.of(fd) else { return }
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
        let deadline = Clock.monotonic() + daemon.settings.current.requestTimeout
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let remaining = deadline - Clock.monotonic()
            guard remaining > 0 else { throw ProtocolError("request-timeout", "no complete request line within \(daemon.settings.current.requestTimeout) s", exit: ExitCode.usage) }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, pollTimeout(remaining))
            if ready < 0 && errno != EINTR { throw ProtocolError("failed", "poll failed") }
            if ready <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { if errno == EINTR { continue }; throw ProtocolError("failed", "recv failed") }
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
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = writeAll(fd, Array((line + "\n").utf8))
    }

    func follow(_ request: ControlRequest, peer: PeerCredentials) throws {
        let filter: TraceFilter
        let limit: RateLimit
        do {
            filter = try request.filter.makeFilter()
            limit = try RateLimit.parse(request.limit)
        } catch let error as FilterError {
            throw ProtocolError("bad-filter", error.description, exit: ExitCode.usage)
        }
        var timeout: Double?
        if let text = request.timeout {
            guard let t = try? DurationParser.parse(text), t > 0 else { throw ProtocolError("bad-request", "invalid timeout '\(ControlProtocol.echo(text))': 500ms, 10s, 2m", exit: ExitCode.usage) }
            timeout = t
        }
        guard let backend = TraceJob.BackendChoice(rawValue: request.backend) else {
            throw ProtocolError("bad-request", "invalid backend '\(ControlProtocol.echo(request.backend))': auto, nft or legacy", exit: ExitCode.usage)
        }
        var namespace: NetworkNamespace?
        if let netns = request.netns, peer.uid != 0, netns.allSatisfy(\.isNumber) {
            // A PID's namespace may be one the client made itself (unshare -Urn), where root would
            // then read a ruleset the client controls. Names under /run/netns are root's.
            throw ProtocolError("bad-request", "through the daemon, only root may name a namespace by PID; use its `ip netns` name", exit: ExitCode.usage)
        }
        if let netns = request.netns {
            do { namespace = try NetworkNamespace.resolve(netns) } catch let error as UserFacingError {
                throw ProtocolError("unavailable", error.message, exit: error.exitCode)
            }
        }
        let session = TraceJob.makeSessionID()
        var options = NftTraceSession.Options(session: session, filter: filter, limit: limit)
        options.count = request.count
        options.timeout = timeout
        var job = TraceJob(options: options)
        job.backend = backend
        job.namespace = namespace
        job.timeoutText = request.timeout ?? ""

        let settings = daemon.settings.current
        let queue = try BoundedQueue<OutputRecord>(capacity: settings.clientBuffer)
        let runner = try TraceRunner(job: job, output: { queue.push($0) }, log: { Daemon.log($0) }, onEnd: { queue.wakeup.signal() })
        try daemon.reserve(Daemon.SessionEntry(kind: .client, name: peer.userName, peer: peer, filter: filter.summary, netns: request.netns,
                                               limit: "\(limit.count)/\(limit.unit)", rate: limit.perSecond, runner: runner), session: session)
        defer { daemon.release(session) }
        reply(ControlLine.accepted(session: session))
        Daemon.log("session \(session) for \(peer): follow \(filter.summary)\(request.netns.map { " in netns \($0)" } ?? ""), limit \(limit.count)/\(limit.unit)")
        try runner.start()
        let gone = stream(queue: queue, runner: runner, request: request, settings: settings, session: session, peer: peer)
        runner.requestStop()
        runner.join(until: Clock.monotonic() + settings.stopTimeout)
        let stats = runner.stats.current
        Daemon.log("session \(session) for \(peer.userName) ended\(gone.map { ": \($0)" } ?? ""): \(stats.paths) paths, \(stats.lost) lost")
    }

    static let daemonStoppedMessage = "the fwtrace daemon stopped, ending this session (its rules are removed): trace again once it is back (systemctl start fwtrace), or as root with --standalone"

    /// Streams until the session ends (then the `end` line) or the client is gone or cut off
    /// (returns why).
    func stream(queue: BoundedQueue<OutputRecord>, runner: TraceRunner, request: ControlRequest,
                settings: DaemonConfig.Settings, session: String, peer: PeerCredentials) -> String? {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let view = TextView(color: request.color)
        var pending: [UInt8] = []
        var sent = 0
        var lastProgress = Clock.monotonic()
        var endQueued = false
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            if endQueued && sent >= pending.count { return nil }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN) | (sent < pending.count ? Int16(POLLOUT) : 0), revents: 0),
                       pollfd(fd: queue.wakeup.fd, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, 250)
            if fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) { return "the client closed the connection" }
            }
            // Take from the queue only while little is pending: a client that does not read
            // leaves records in the bounded queue, where the oldest are dropped and counted.
            if !endQueued && pending.count - sent < 65536 {
                // Read before taking: everything the session emitted before it finished is queued.
                let finished = runner.isFinished
                let (records, dropped) = queue.takeAll()
                if sent > 0 { pending.removeFirst(sent); sent = 0 }
                if dropped > 0 {
                    let loss = OutputRecord.sinkLoss(count: dropped, sink: "client", detail: "this client read too slowly: the daemon dropped the \(dropped) oldest records queued for it (client_buffer = \(settings.clientBuffer))", host: daemon.host, session: session)
                    pending.append(contentsOf: Array((loss.line + "\n").utf8))
                }
                for record in records {
                    let line: String
                    if request.view == .text, let path = record.path {
                        line = ControlLine.view(view.render(path, netns: request.netns))
                    } else {
                        line = record.line
                    }
                    pending.append(contentsOf: Array(line.utf8)); pending.append(0x0a)
                }
                if finished {
                    endQueued = true
                    let stats = runner.stats.current
                    var end = ControlLine.end(exit: stats.exit, message: stats.endMessage)
                    // Ended because the daemon stops (SIGTERM/SIGINT): the client is told, with
                    // its own exit code, rather than seeing an ordinary end.
                    if daemon.stopping.current && stats.exit == ExitCode.success {
                        end = ControlLine.end(exit: ExitCode.daemonStopped, message: Self.daemonStoppedMessage)
                    }
                    pending.append(contentsOf: Array((end + "\n").utf8))
                }
            }
            if sent < pending.count {
                let n = pending.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
                if n > 0 { sent += n; lastProgress = Clock.monotonic() }
                else if n < 0 && errno != EAGAIN && errno != EINTR { return "the client's connection broke" }
            } else {
                lastProgress = Clock.monotonic()
            }
            if Clock.monotonic() - lastProgress > settings.clientStallTimeout {
                Daemon.log("cut off \(peer) (session \(session)): it read nothing for \(Int(settings.clientStallTimeout)) s while records waited", priority: 4)
                return "cut off: the client did not read for \(Int(settings.clientStallTimeout)) s"
            }
        }
    }
}
