import FWTraceCore
import FWTraceKernel

/// `[metrics] listen`: answers Prometheus's scrapes (HTTP GET /metrics, text exposition format) on
/// loopback TCP or a unix socket, on a thread of its own that polls every connection at once; each
/// has 5 s from its accept for its request and the answer, and at most 16 are open.
final class MetricsServer: DaemonService, @unchecked Sendable {
    private enum Listener {
        case tcp(TCPListener)
        case unix(UnixListener)
        var descriptor: FileDescriptor {
            switch self {
            case .tcp(let l): return l.descriptor
            case .unix(let l): return l.descriptor
            }
        }
        func accept() throws(SystemError) -> FileDescriptor? {
            switch self {
            case .tcp(let l): return try l.accept()
            case .unix(let l): return try l.accept()
            }
        }
    }

    private let config: DaemonConfig.Metrics
    private let group: UInt32
    private let exposition: @Sendable () -> [UInt8]
    private var listener: Listener?
    private var worker: WorkerThread?
    private let stopping: Wakeup

    init(_ config: DaemonConfig.Metrics, group: UInt32, exposition: @escaping @Sendable () -> [UInt8]) throws {
        self.config = config; self.group = group; self.exposition = exposition
        stopping = try Wakeup()
    }

    var address: String {
        switch config.listen {
        case .tcp(let host, let port): return host.contains(":") ? "http://[\(host)]:\(port)/metrics" : "http://\(host):\(port)/metrics"
        case .unix(let path): return "unix:\(path) (GET /metrics)"
        }
    }

    /// Listens (a port in use or a path that cannot be made stops the start: the admin asked for
    /// metrics) and starts answering.
    func run() throws {
        do {
            switch config.listen {
            case .tcp(let host, let port): listener = .tcp(try TCPListener(host: host, port: port))
            case .unix(let path): listener = .unix(try UnixListener(path: path, group: group, mode: 0o660))
            }
        } catch {
            throw UserFacingError("metrics cannot listen on \(address): \(error) (another process has it? change [metrics] listen)", exitCode: ExitCode.unavailable)
        }
        let worker = WorkerThread(name: "metrics") { [self] in serve() }
        self.worker = worker
        try worker.start()
        Daemon.log("metrics on \(address)")
    }

    /// Its thread returns at its next wakeup, which this is.
    func requestStop() { stopping.signal() }

    func stop(deadline: Double) {
        stopping.signal()
        worker?.join(until: deadline)
        if case .unix(let l)? = listener { l.close() }
        listener = nil
    }

    /// Connections served at once; a new one past this closes the oldest.
    static let maxConnections = 16
    /// A connection has this long, from its accept, to send its request and take the answer.
    static let connectionTime = 5.0

    /// One client: its request head as it arrives, then the answer as it leaves.
    private final class Connection {
        let descriptor: FileDescriptor
        let deadline: Double
        var head: [UInt8] = []
        var response: [UInt8]?
        var sent = 0
        var done = false
        init(_ descriptor: FileDescriptor, deadline: Double) { self.descriptor = descriptor; self.deadline = deadline }
    }

    /// Every connection is polled at once (none waits on another) and ends by its deadline, so
    /// a client that sends or reads slowly, or a crowd of them, costs others nothing but a slot.
    private func serve() {
        guard let listener else { return }
        var connections: [Connection] = []
        while true {
            var set = PollSet()
            set.add(listener.descriptor)
            set.add(stopping.descriptor)
            for c in connections { set.add(c.descriptor, c.response == nil ? .readable : .writable) }
            let soonest = connections.map(\.deadline).min().map { max(0, $0 - SystemClock.monotonic()) }
            guard let ready = try? set.wait(timeout: soonest), ready[1].isEmpty else { return }
            for (c, events) in zip(connections, ready.dropFirst(2)) where !events.isEmpty { step(c) }
            if !ready[0].isEmpty, let accepted = accept() {
                if connections.count >= Self.maxConnections { connections.removeFirst() }
                connections.append(Connection(accepted, deadline: SystemClock.monotonic() + Self.connectionTime))
            }
            let now = SystemClock.monotonic()
            connections.removeAll { $0.done || $0.deadline <= now }
        }
    }

    private func accept() -> FileDescriptor? {
        do { return try listener?.accept() } catch {
            Daemon.log("metrics: cannot accept a connection: \(error.reason)", priority: 4)
            SystemClock.sleep(0.2)
            return nil
        }
    }

    /// What the connection is ready for: more of its request (at most 8 KiB of head), or more of
    /// the answer. Done when the answer has gone, the client closed, or anything failed.
    private func step(_ c: Connection) {
        if let response = c.response {
            let n = response[c.sent...].withUnsafeBytes { raw -> Int in (try? c.descriptor.sendNow(raw)) ?? -1 }
            if n < 0 { c.done = true; return }
            c.sent += n
            c.done = c.sent == response.count
            return
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        // -1: nothing after all (poll said readable); 0: the client closed.
        let count = buffer.withUnsafeMutableBytes { raw -> Int in (try? c.descriptor.receiveNow(into: raw)).map { $0 ?? -1 } ?? 0 }
        if count == 0 { c.done = true; return }
        if count > 0 { c.head += buffer[0..<count] }
        if HTTPRequestHead.end(of: c.head) != nil || c.head.count >= 8192 { c.response = answer(to: c.head) }
    }

    private func answer(to head: [UInt8]) -> [UInt8] {
        switch HTTPRequestHead(head)?.route {
        case .metrics(let headOnly)?: return HTTPResponse.ok(exposition(), headOnly: headOnly)
        case .notFound?: return HTTPResponse.status(404, "Not Found", "fwtrace serves its metrics at /metrics\n")
        case .methodNotAllowed?: return HTTPResponse.status(405, "Method Not Allowed", "GET /metrics\n", allow: true)
        case nil: return HTTPResponse.status(400, "Bad Request", "not an HTTP request\n")
        }
    }
}

enum HTTPResponse {
    static func ok(_ body: [UInt8], headOnly: Bool) -> [UInt8] {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + (headOnly ? [] : body)
    }

    static func status(_ code: Int, _ reason: String, _ body: String, allow: Bool = false) -> [UInt8] {
        let head = "HTTP/1.1 \(code) \(reason)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n\(allow ? "Allow: GET, HEAD\r\n" : "")Connection: close\r\n\r\n"
        return Array((head + body).utf8)
    }
}
