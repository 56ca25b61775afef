import FWTraceCore
import FWTraceKernel

/// Where records go. Each sink has its own bounded queue and thread: a slow or dead sink loses its
/// oldest records (and says so with a `loss` record once it can write again); it never blocks a
/// trace session or another sink.
public class RecordSink: @unchecked Sendable {
    public let config: DaemonConfig.Sink
    let queue: BoundedQueue<OutputRecord>
    let host: String
    let session: String
    private var worker: WorkerThread?
    private let stopping = Locked(false)
    private let reopenRequested = Locked(false)
    /// Records dropped in total (status).
    let lost = Locked<UInt64>(0)
    /// Records written or sent in total (status); produced = delivered + lost + queued.
    let delivered = Locked<UInt64>(0)
    /// Taken from the queue and being written (counted as queued until written or dropped).
    private let inFlight = Locked(0)
    /// Records produced for this sink that are neither delivered nor lost yet.
    var queued: Int { queue.depth + inFlight.current }
    /// The metrics' series for this sink's name; set before start.
    var counters: SinkCounters?
    let log: @Sendable (String) -> Void

    init(config: DaemonConfig.Sink, host: String, session: String, log: @escaping @Sendable (String) -> Void) throws {
        self.config = config
        self.host = host
        self.session = session
        self.log = log
        queue = try BoundedQueue(capacity: config.buffer)
    }

    /// `group`: the socket group, which the files a file sink creates belong to.
    public static func make(_ config: DaemonConfig.Sink, host: String, session: String, log: @escaping @Sendable (String) -> Void,
                            group: UInt32? = nil) throws -> RecordSink {
        switch config.kind {
        case .stdout: return try DescriptorSink(config: config, host: host, session: session, log: log)
        case .file:
            let sink = try FileSink(config: config, host: host, session: session, log: log)
            sink.group = group
            return sink
        case .journald: return try JournaldSink(config: config, host: host, session: session, log: log)
        case .socket: return try CollectorSink(config: config, host: host, session: session, log: log)
        }
    }

    public func deliver(_ record: OutputRecord) { queue.push(record) }

    public func start() throws {
        let worker = WorkerThread(name: "sink-\(config.name)") { [self] in run() }
        self.worker = worker
        try worker.start()
    }

    /// Writes what is queued (bounded by the deadline), then closes.
    public func stop(deadline: Double) {
        stopping.withLock { $0 = true }
        queue.wakeup.signal()
        if worker?.join(until: deadline) == false { log("sink \(config.name): still writing at the stop deadline; records may be lost") }
    }

    /// SIGHUP: files are reopened (logrotate moved them), connections re-established.
    public func reopen() { reopenRequested.withLock { $0 = true }; queue.wakeup.signal() }

    private func run() {
        var pendingLoss: UInt64 = 0
        while true {
            let stop = stopping.current
            if reopenRequested.withLock({ let r = $0; $0 = false; return r }) { closeOutput() }
            let hasWork = !queue.isEmpty || pendingLoss > 0
            if hasWork && !ensureOpen() {
                if stop {
                    let (left, dropped) = queue.takeAll()
                    let missed = UInt64(left.count)
                    dropping(missed + dropped)
                    if missed + dropped + pendingLoss > 0 { log("sink \(config.name): stopping while unreachable; \(missed + dropped + pendingLoss) records not delivered") }
                    return
                }
                // Down: the records stay queued (the queue keeps the newest); what it dropped is
                // counted now, not when the sink is back; try again shortly.
                let dropped = queue.takeDropped()
                pendingLoss += dropped
                dropping(dropped)
                SystemClock.sleep(0.2)
                continue
            }
            if hasWork {
                let (records, dropped) = queue.takeAll()
                inFlight.withLock { $0 = records.count }
                defer { inFlight.withLock { $0 = 0 } }
                pendingLoss += dropped
                dropping(dropped)
                if pendingLoss > 0 {
                    let loss = OutputRecord.sinkLoss(count: pendingLoss, sink: config.name,
                                                     detail: "sink \(config.name) fell behind (or was unreachable) and dropped the \(pendingLoss) oldest records it held (buffer = \(config.buffer))",
                                                     host: host, session: session)
                    if write(loss) { pendingLoss = 0 } else { closeOutput() }
                }
                if pendingLoss == 0 {
                    var written = 0
                    for record in records {
                        guard write(record) else { break }
                        written += 1
                    }
                    delivering(UInt64(written))
                    if written < records.count {
                        // The output broke mid-batch: what was not written is lost, and counted.
                        let missed = UInt64(records.count - written)
                        pendingLoss += missed
                        dropping(missed)
                        closeOutput()
                    }
                } else {
                    pendingLoss += UInt64(records.count)
                    dropping(UInt64(records.count))
                }
            }
            if stop { closeOutput(); return }
            var set = PollSet()
            set.add(queue.wakeup.descriptor)
            _ = try? set.wait(timeout: 1)
        }
    }

    private func dropping(_ count: UInt64) {
        guard count > 0 else { return }
        lost.withLock { $0 += count }
        counters?.dropped.increment(by: Int64(clamping: count))
    }

    private func delivering(_ count: UInt64) {
        guard count > 0 else { return }
        delivered.withLock { $0 += count }
        counters?.delivered.increment(by: Int64(clamping: count))
    }

    // Subclasses: open lazily (and again after a failure), write one record, close.
    func ensureOpen() -> Bool { true }
    func write(_ record: OutputRecord) -> Bool { true }
    func closeOutput() { output = nil }

    /// The output a subclass opened (a file or a socket); nil while closed. Dropping it closes it.
    var output: FileDescriptor?

    /// The record's JSON line and a newline, to a descriptor that takes a stream; nil, or why not.
    func writeLine(_ record: OutputRecord, to output: FileDescriptor) -> SystemError? {
        do { try output.writeAll(Array((record.line + "\n").utf8)); return nil } catch { return error }
    }
}

/// stdout: JSON lines; under systemd that is the journal (as plain MESSAGE lines).
final class DescriptorSink: RecordSink, @unchecked Sendable {
    override func write(_ record: OutputRecord) -> Bool { writeAll(1, Array((record.line + "\n").utf8)) }
}

/// A file, appended to; reopened on SIGHUP so logrotate can move it. A file it creates is
/// 0640 root:<socket_group> whatever the umask and whether or not systemd's Group= runs it, so
/// the group's members can read what the daemon traced; a file that exists keeps its owner and
/// mode (the admin's, or logrotate's `create`).
final class FileSink: RecordSink, @unchecked Sendable {
    private var lastFailure = 0.0
    /// Set once by `make`, before the sink's thread starts.
    var group: UInt32?

    override func ensureOpen() -> Bool {
        if output != nil { return true }
        guard SystemClock.monotonic() - lastFailure > 1 else { return false }
        let file: FileDescriptor, created: Bool
        do { (file, created) = try FileDescriptor.openForAppending(config.target, mode: 0o640) } catch {
            lastFailure = SystemClock.monotonic()
            log("sink \(config.name): cannot open \(config.target): \(error.reason)")
            return false
        }
        if created {
            if let group {
                do { try file.changeGroup(group) } catch { log("sink \(config.name): cannot give \(config.target) to gid \(group): \(error.reason)") }
            }
            do { try file.changeMode(0o640) } catch { log("sink \(config.name): cannot make \(config.target) mode 0640: \(error.reason)") }
        }
        output = file
        return true
    }
    override func write(_ record: OutputRecord) -> Bool { output.map { writeLine(record, to: $0) == nil } ?? false }
}

/// journald's native protocol: one datagram per record, KEY=value lines; MESSAGE is the JSON line.
final class JournaldSink: RecordSink, @unchecked Sendable {
    private var lastFailure = 0.0
    private var socket: DatagramSocket?

    override func ensureOpen() -> Bool {
        if socket != nil { return true }
        guard SystemClock.monotonic() - lastFailure > 1 else { return false }
        do {
            let connected = try DatagramSocket(connectedTo: config.target)
            // A big send buffer: journald datagrams carry a whole record.
            try? connected.descriptor.setSendBuffer(bytes: 8 << 20)
            socket = connected
            return true
        } catch {
            lastFailure = SystemClock.monotonic()
            log("sink \(config.name): cannot reach journald at \(config.target): \(error.reason)")
            return false
        }
    }

    override func closeOutput() { socket = nil }

    override func write(_ record: OutputRecord) -> Bool {
        guard let socket else { return false }
        let datagram = Self.encode(record)
        do {
            try socket.send(datagram)
        } catch where error.tooLarge {
            // Too large for a datagram (the send buffer bounds it): the entry goes in a sealed
            // memfd, passed with SCM_RIGHTS, as journald's native protocol allows (sd_journal_sendv
            // does it).
            do { try socket.send(descriptor: SealedMemoryFile.make(name: "fwtrace-journal-entry", holding: datagram)) } catch {
                log("sink \(config.name): journald send: \(error.reason)")
                return false
            }
        } catch {
            log("sink \(config.name): journald send: \(error.reason)")
            return false
        }
        return true
    }

    /// KEY=value\n, or for values with a newline KEY\n + 64-bit little-endian length + value + \n.
    static func encode(_ record: OutputRecord) -> [UInt8] {
        var out: [UInt8] = []
        func field(_ name: String, _ value: String) {
            out.append(contentsOf: Array(name.utf8))
            let bytes = Array(value.utf8)
            if bytes.contains(0x0a) {
                out.append(0x0a)
                var length = UInt64(bytes.count).littleEndian
                withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
                out.append(contentsOf: bytes)
            } else {
                out.append(UInt8(ascii: "="))
                out.append(contentsOf: bytes)
            }
            out.append(0x0a)
        }
        field("MESSAGE", record.line)
        field("PRIORITY", String(record.priority))
        field("SYSLOG_IDENTIFIER", "fwtrace")
        for f in record.fields { field(f.name, f.value) }
        return out
    }
}

/// A collector's socket (unix stream, or TCP on loopback): newline-delimited JSON, reconnected
/// with backoff; a send that stalls for 5 s drops the connection (the collector is stuck).
final class CollectorSink: RecordSink, @unchecked Sendable {
    private var nextAttempt = 0.0
    private var backoff = 0.5
    private var connectedOnce = false

    override func ensureOpen() -> Bool {
        if output != nil { return true }
        guard SystemClock.monotonic() >= nextAttempt, let address = try? CollectorAddress.parse(config.target) else { return false }
        let connection: FileDescriptor
        do {
            switch address {
            case .unix(let path): connection = try Socket.connectUnixStream(path)
            case .tcp(let host, let port): connection = try Socket.connectTCP(host: host, port: port)
            }
        } catch {
            if backoff == 0.5 || !connectedOnce { log("sink \(config.name): cannot connect to \(config.target): \(error.reason); retrying") }
            nextAttempt = SystemClock.monotonic() + backoff
            backoff = min(backoff * 2, 30)
            return false
        }
        try? connection.setSendTimeout(seconds: 5)
        output = connection
        if connectedOnce { log("sink \(config.name): reconnected to \(config.target)") }
        connectedOnce = true
        backoff = 0.5
        return true
    }

    override func write(_ record: OutputRecord) -> Bool {
        guard let output else { return false }
        if let error = writeLine(record, to: output) {
            log("sink \(config.name): \(config.target): \(error.reason); reconnecting")
            nextAttempt = SystemClock.monotonic() + backoff
            return false
        }
        return true
    }
}
