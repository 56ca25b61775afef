import FWTraceKernel

/// The control socket's door: accepts connections (polled by the daemon's main loop), refuses
/// beyond the connection caps, and gives each accepted connection a thread of its own.
final class ClientAcceptor: DaemonService, @unchecked Sendable {
    /// A control connection's thread and the uid it is counted against.
    private struct Connection { let worker: WorkerThread; let uid: UInt32 }

    /// Control connections served at once (each waits at most request_timeout for its request).
    static let maxConnections = 64
    /// Of those, kept for root: users filling the rest (max_connections_per_user each) cannot
    /// lock root out.
    static let rootReserve = 8

    private let settings: Locked<DaemonConfig.Settings>
    private let path: String, group: UInt32
    private let makeHandler: @Sendable (FileDescriptor) -> ClientHandler
    private(set) var listener: UnixListener?
    private let clients = Locked<[Int: Connection]>([:])
    private var nextClient = 0

    init(path: String, group: UInt32, settings: Locked<DaemonConfig.Settings>, makeHandler: @escaping @Sendable (FileDescriptor) -> ClientHandler) {
        self.path = path; self.group = group; self.settings = settings; self.makeHandler = makeHandler
    }

    /// Opens the control socket.
    func run() throws {
        let current = settings.current
        listener = try ControlSocket.listen(path: path, group: group, mode: current.socketMode)
        Daemon.log("control socket \(path) (group \(current.socketGroup), mode \(String(current.socketMode, radix: 8)))")
    }

    /// Closes the door: no connection is accepted from now on, and the socket's file goes.
    func closeListener() {
        listener?.close()
        listener = nil
    }

    /// Waits for the connections' threads (their sessions have been told to stop).
    func stop(deadline: Double) {
        closeListener()
        for client in clients.withLock({ Array($0.values) }) { client.worker.join(until: deadline) }
    }

    func accept() {
        guard let listener else { return }
        let connection: FileDescriptor
        do {
            guard let accepted = try listener.accept() else { return }
            connection = accepted
        } catch {
            // Out of descriptors: the socket stays readable; pause instead of spinning on it.
            Daemon.log("cannot accept a control connection: \(error.reason)", priority: 3)
            SystemClock.sleep(0.2)
            return
        }
        guard let uid = PeerCredentials.uid(of: connection) else { return }
        if let refusal = refusal(uid: uid) {
            let line = ProtocolError("too-many-connections", refusal.message, exit: ExitCode.unavailable).line + "\n"
            _ = try? Array(line.utf8).withUnsafeBytes { (raw) throws(SystemError) in try connection.sendNow(raw) }
            connection.close()
            Daemon.log("refused a control connection from uid \(uid): \(refusal.log)", priority: 4)
            return
        }
        nextClient += 1
        let id = nextClient
        let handler = makeHandler(connection)
        let worker = WorkerThread(name: "client-\(id)") { handler.run() }
        clients.withLock { $0[id] = Connection(worker: worker, uid: uid) }
        if (try? worker.start()) == nil { connection.close(); clients.withLock { $0[id] = nil } }
    }

    /// Each connection has a thread; a flood of idle connections must not become a flood of
    /// threads, and one user's must not take the slots of everyone else. Beyond a cap, one
    /// error line (never waited on) and the door closes.
    private func refusal(uid: UInt32) -> (message: String, log: String)? {
        let perUser = settings.current.maxConnectionsPerUser
        let (all, users, own) = clients.withLock { clients -> (Int, Int, Int) in
            let open = clients.values.filter { !$0.worker.isFinished }
            return (open.count, open.filter { $0.uid != 0 }.count, open.filter { $0.uid == uid }.count)
        }
        if all >= Self.maxConnections {
            return ("the daemon already serves \(Self.maxConnections) control connections; try again later", "\(Self.maxConnections) already open")
        } else if uid != 0, own >= perUser {
            return ("uid \(uid) already has \(own) control connections open to the daemon (max_connections_per_user = \(perUser)); close one or try again later",
                    "uid \(uid) already has \(own) open (max_connections_per_user = \(perUser))")
        } else if uid != 0, users >= Self.maxConnections - Self.rootReserve {
            return ("the daemon already serves \(users) control connections from users other than root, all they may have: the last \(Self.rootReserve) of \(Self.maxConnections) are kept for root; try again later",
                    "\(users) open from users other than root (the last \(Self.rootReserve) of \(Self.maxConnections) are kept for root)")
        }
        return nil
    }

    /// Joins the threads of connections that have ended.
    func reap() {
        let done = clients.withLock { all in all.filter { $0.value.worker.isFinished } }
        for (id, client) in done {
            client.worker.join(until: SystemClock.monotonic() + 1)
            clients.withLock { $0[id] = nil }
        }
    }
}
