import FWTraceCore
import FWTraceKernel

/// A `follow` session's records on their way to the client: taken from the session's bounded
/// queue while little is pending, sent without ever blocking, the `end` line last. A client that
/// stops reading is cut off after client_stall_timeout; the daemon never waits on it.
struct ClientStream {
    let connection: FileDescriptor
    let queue: BoundedQueue<OutputRecord>
    let runner: TraceRunner
    let request: ControlRequest
    let settings: DaemonConfig.Settings
    let session: String
    let peer: PeerCredentials
    unowned let daemon: Daemon

    static let daemonStoppedMessage = "the fwtrace daemon stopped, ending this session (its rules are removed): trace again once it is back (systemctl start fwtrace), or as root with --standalone"

    private var pending: [UInt8] = []
    private var sent = 0
    private var endQueued = false

    init(connection: FileDescriptor, queue: BoundedQueue<OutputRecord>, runner: TraceRunner, request: ControlRequest,
         settings: DaemonConfig.Settings, session: String, peer: PeerCredentials, daemon: Daemon) {
        self.connection = connection; self.queue = queue; self.runner = runner; self.request = request
        self.settings = settings; self.session = session; self.peer = peer; self.daemon = daemon
    }

    /// Streams until the session ends (then the `end` line) or the client is gone or cut off
    /// (returns why).
    mutating func run() -> String? {
        try? connection.setNonBlocking()
        let view = TextView(color: request.color, steps: request.steps)
        var lastProgress = SystemClock.monotonic()
        var scratch = [UInt8](repeating: 0, count: 4096)
        let connection = self.connection
        while true {
            if endQueued && sent >= pending.count { return nil }
            var set = PollSet()
            set.add(connection, sent < pending.count ? [.readable, .writable] : .readable)
            set.add(queue.wakeup.descriptor)
            let ready = (try? set.wait(timeout: 0.25)) ?? [[], []]
            if !ready[0].intersection([.readable, .hangup, .error]).isEmpty {
                // Anything but "nothing to read now" (a close, an error) means the client is gone.
                let n: Int?   // nil: nothing to read now
                do { n = try scratch.withUnsafeMutableBytes { (raw) throws(SystemError) in try connection.receiveNow(into: raw) } } catch {
                    return "the client closed the connection"
                }
                if n == 0 { return "the client closed the connection" }
            }
            // Take from the queue only while little is pending: a client that does not read
            // leaves records in the bounded queue, where the oldest are dropped and counted.
            if !endQueued && pending.count - sent < 65536 { takeQueued(view: view) }
            if sent < pending.count {
                let offset = sent
                do {
                    let n = try pending.withUnsafeBytes { (raw) throws(SystemError) in try connection.sendNow(UnsafeRawBufferPointer(rebasing: raw[offset...])) }
                    if n > 0 { sent += n; lastProgress = SystemClock.monotonic() }
                } catch { return "the client's connection broke" }
            } else {
                lastProgress = SystemClock.monotonic()
            }
            if SystemClock.monotonic() - lastProgress > settings.clientStallTimeout {
                Daemon.log("cut off \(peer) (session \(session)): it read nothing for \(Int(settings.clientStallTimeout)) s while records waited", priority: 4)
                return "cut off: the client did not read for \(Int(settings.clientStallTimeout)) s"
            }
        }
    }

    /// Moves what the session queued (and a loss record for what the queue dropped) to `pending`;
    /// once the session has finished, the `end` line after it.
    private mutating func takeQueued(view: TextView) {
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
        guard finished else { return }
        endQueued = true
        let stats = runner.stats.current
        var end = ControlLine.end(exit: stats.exit, message: stats.endMessage)
        // Ended because the daemon stops (SIGTERM/SIGINT): the client is told, with its own exit
        // code, rather than seeing an ordinary end.
        if daemon.stopping && stats.exit == ExitCode.success {
            end = ControlLine.end(exit: ExitCode.daemonStopped, message: Self.daemonStoppedMessage)
        }
        pending.append(contentsOf: Array((end + "\n").utf8))
    }
}
