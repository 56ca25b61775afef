import FWTraceCore
import FWTraceKernel

/// `[metrics] listen`: answers Prometheus's scrapes (HTTP GET /metrics, text exposition format) on
/// loopback TCP or a unix socket, on a thread of its own. One connection at a time, each with 2 s
/// to send its request and 5 s to take the answer: a scrape is small and rare, and a client that
/// stalls costs the next scrape at most that, never a trace.
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

    func stop(deadline: Double) {
        stopping.signal()
        worker?.join(until: deadline)
        if case .unix(let l)? = listener { l.close() }
        listener = nil
    }

    private func serve() {
        guard let listener else { return }
        while true {
            var set = PollSet()
            set.add(listener.descriptor)
            set.add(stopping.descriptor)
            guard let ready = try? set.wait(timeout: nil), ready[1].isEmpty else { return }
            do {
                guard let connection = try listener.accept() else { continue }
                answer(connection)
            } catch {
                Daemon.log("metrics: cannot accept a connection: \(error.reason)", priority: 4)
                SystemClock.sleep(0.2)
            }
        }
    }

    /// Reads one request (its head, at most 8 KiB, within 2 s) and answers it; then closes.
    private func answer(_ connection: FileDescriptor) {
        var head: [UInt8] = []
        let deadline = SystemClock.monotonic() + 2
        var buffer = [UInt8](repeating: 0, count: 4096)
        while HTTPRequestHead.end(of: head) == nil, head.count < 8192 {
            let left = deadline - SystemClock.monotonic()
            var set = PollSet()
            set.add(connection)
            guard left > 0, let ready = try? set.wait(timeout: left), !ready[0].isEmpty else { return }
            // -1: nothing after all (poll said readable); 0: the client closed.
            let count = buffer.withUnsafeMutableBytes { raw -> Int in (try? connection.receiveNow(into: raw)).map { $0 ?? -1 } ?? 0 }
            guard count != 0 else { return }
            if count > 0 { head += buffer[0..<count] }
        }
        let request = HTTPRequestHead(head)
        let response: [UInt8]
        switch request?.route {
        case .metrics(let headOnly)?: response = HTTPResponse.ok(exposition(), headOnly: headOnly)
        case .notFound?: response = HTTPResponse.status(404, "Not Found", "fwtrace serves its metrics at /metrics\n")
        case .methodNotAllowed?: response = HTTPResponse.status(405, "Method Not Allowed", "GET /metrics\n", allow: true)
        case nil: response = HTTPResponse.status(400, "Bad Request", "not an HTTP request\n")
        }
        try? connection.setSendTimeout(seconds: 5)
        try? connection.writeAll(response)
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
