import Foundation
import Glibc
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
                    let missed = UInt64(queue.takeAll().items.count)
                    lost.withLock { $0 += missed }
                    if missed + pendingLoss > 0 { log("sink \(config.name): stopping while unreachable; \(missed + pendingLoss) records not delivered") }
                    return
                }
                // Down: the records stay queued (the queue keeps the newest and counts what it
                // drops); try again shortly.
                usleep(200_000)
                continue
            }
            if hasWork {
                let (records, dropped) = queue.takeAll()
                pendingLoss += dropped
                if dropped > 0 { lost.withLock { $0 += dropped } }
                if pendingLoss > 0 {
                    let loss = OutputRecord.sinkLoss(count: pendingLoss, sink: config.name,
                                                     detail: "sink \(config.name) fell behind (or was unreachable) and dropped the \(pendingLoss) oldest records it held (buffer = \(config.buffer))",
                                                     host: host, session: session)
                    if write(loss) { pendingLoss = 0 } else { closeOutput() }
                }
                if pendingLoss == 0 {
                    for (index, record) in records.enumerated() where !write(record) {
                        // The output broke mid-batch: what was not written is lost, and counted.
                        let missed = UInt64(records.count - index)
                        pendingLoss += missed
                        lost.withLock { $0 += missed }
                        closeOutput()
                        break
                    }
                } else {
                    pendingLoss += UInt64(records.count)
                    lost.withLock { $0 += UInt64(records.count) }
                }
            }
            if stop { closeOutput(); return }
            var pfd = pollfd(fd: queue.wakeup.fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, 1000)
        }
    }

    // Subclasses: open lazily (and again after a failure), write one record, close.
    func ensureOpen() -> Bool { true }
    func write(_ record: OutputRecord) -> Bool { true }
    func closeOutput() { if fd >= 0 { close(fd); fd = -1 } }

    /// The output descriptor a subclass opened (a file or a socket); -1 while closed.
    var fd: Int32 = -1

    /// The record's JSON line and a newline, to a descriptor that takes a stream.
    func writeLine(_ record: OutputRecord, to fd: Int32) -> Bool { writeAll(fd, Array((record.line + "\n").utf8)) }
}

/// Writes a whole buffer to a blocking descriptor (a socket without SIGPIPE, or a file or
/// pipe); false on error.
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    var isSocket = true
    while offset < bytes.count {
        let pointer = bytes.baseAddress! + offset, length = bytes.count - offset
        var n = isSocket ? send(fd, pointer, length, Int32(MSG_NOSIGNAL)) : Glibc.write(fd, pointer, length)
        if n < 0 && errno == ENOTSOCK { isSocket = false; n = Glibc.write(fd, pointer, length) }
        if n < 0 { if errno == EINTR { continue }; return false }
        offset += n
    }
    return true
}

@discardableResult
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { writeAll(fd, $0) } }

/// stdout: JSON lines; under systemd that is the journal (as plain MESSAGE lines).
final class DescriptorSink: RecordSink, @unchecked Sendable {
    override func write(_ record: OutputRecord) -> Bool { writeLine(record, to: 1) }
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
        if fd >= 0 { return true }
        guard Clock.monotonic() - lastFailure > 1 else { return false }
        var created = true
        fd = open(config.target, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        if fd < 0 && errno == EEXIST {
            created = false
            fd = open(config.target, O_WRONLY | O_APPEND | O_CLOEXEC)
        }
        if fd < 0 {
            lastFailure = Clock.monotonic()
            log("sink \(config.name): cannot open \(config.target): \(String(cString: strerror(errno)))")
            return false
        }
        if created {
            if let group, fchown(fd, uid_t.max, group) != 0 {
                log("sink \(config.name): cannot give \(config.target) to gid \(group): \(String(cString: strerror(errno)))")
            }
            if fchmod(fd, 0o640) != 0 { log("sink \(config.name): cannot make \(config.target) mode 0640: \(String(cString: strerror(errno)))") }
        }
        return true
    }
    override func write(_ record: OutputRecord) -> Bool { writeLine(record, to: fd) }
}

/// journald's native protocol: one datagram per record, KEY=value lines; MESSAGE is the JSON line.
final class JournaldSink: RecordSink, @unchecked Sendable {
    private var lastFailure = 0.0

    override func ensureOpen() -> Bool {
        if fd >= 0 { return true }
        guard Clock.monotonic() - lastFailure > 1 else { return false }
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0, connectUnix(fd, config.target) else {
            if fd >= 0 { close(fd); fd = -1 }
            lastFailure = Clock.monotonic()
            log("sink \(config.name): cannot reach journald at \(config.target): \(String(cString: strerror(errno)))")
            return false
        }
        // A big send buffer: journald datagrams carry a whole record.
        var size: Int32 = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(4))
        return true
    }

    override func write(_ record: OutputRecord) -> Bool {
        let datagram = Self.encode(record)
        let n = datagram.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        // Too large for a datagram (the send buffer bounds it): the entry goes in a sealed memfd,
        // passed with SCM_RIGHTS, as journald's native protocol allows (sd_journal_sendv does it).
        if n < 0 && (errno == EMSGSIZE || errno == ENOBUFS), sendSealed(datagram) { return true }
        if n < 0 {
            log("sink \(config.name): journald send: \(String(cString: strerror(errno)))")
            return false
        }
        return true
    }

    /// memfd_create is in glibc (2.27+) but not in Swift's Glibc module: looked up once.
    private static let memfdCreate: (@convention(c) (UnsafePointer<CChar>, UInt32) -> Int32)? =
        dlsym(nil, "memfd_create").map { unsafeBitCast($0, to: (@convention(c) (UnsafePointer<CChar>, UInt32) -> Int32).self) }

    /// Writes the entry to a memfd, seals it and sends the descriptor in an empty datagram.
    func sendSealed(_ entry: [UInt8]) -> Bool {
        let cloexecAllowSealing: UInt32 = 0x1 | 0x2                          // MFD_CLOEXEC | MFD_ALLOW_SEALING
        guard let create = Self.memfdCreate else { return false }
        let memfd = create("fwtrace-journal-entry", cloexecAllowSealing)
        guard memfd >= 0 else { return false }
        defer { close(memfd) }
        let addSeals: Int32 = 1033, allSeals: Int32 = 0x1 | 0x2 | 0x4 | 0x8  // F_ADD_SEALS; SEAL, SHRINK, GROW, WRITE
        guard writeAll(memfd, entry), fcntl(memfd, addSeals, allSeals) == 0 else { return false }
        let space = MemoryLayout<cmsghdr>.stride + MemoryLayout<Int64>.stride   // CMSG_SPACE(sizeof(int))
        var control = [UInt8](repeating: 0, count: space)
        return control.withUnsafeMutableBytes { buffer -> Bool in
            let header = buffer.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
            header.pointee.cmsg_len = MemoryLayout<cmsghdr>.size + MemoryLayout<Int32>.size
            header.pointee.cmsg_level = SOL_SOCKET
            header.pointee.cmsg_type = Int32(SCM_RIGHTS)
            (buffer.baseAddress! + MemoryLayout<cmsghdr>.size).storeBytes(of: memfd, as: Int32.self)
            var message = msghdr()
            message.msg_control = buffer.baseAddress
            message.msg_controllen = buffer.count
            while true {
                if sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) >= 0 { return true }
                if errno != EINTR { return false }
            }
        }
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
        if fd >= 0 { return true }
        guard Clock.monotonic() >= nextAttempt, let address = try? CollectorAddress.parse(config.target) else { return false }
        switch address {
        case .unix(let path):
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd >= 0, !connectUnix(fd, path) { close(fd); fd = -1 }
        case .tcp(let host, let port):
            fd = connectTCP(host: host, port: port)
        }
        guard fd >= 0 else {
            if backoff == 0.5 || !connectedOnce { log("sink \(config.name): cannot connect to \(config.target): \(String(cString: strerror(errno))); retrying") }
            nextAttempt = Clock.monotonic() + backoff
            backoff = min(backoff * 2, 30)
            return false
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if connectedOnce { log("sink \(config.name): reconnected to \(config.target)") }
        connectedOnce = true
        backoff = 0.5
        return true
    }

    override func write(_ record: OutputRecord) -> Bool {
        guard writeLine(record, to: fd) else {
            log("sink \(config.name): \(config.target): \(String(cString: strerror(errno))); reconnecting")
            nextAttempt = Clock.monotonic() + backoff
            return false
        }
        return true
    }
}

/// A unix socket address for `path` (a leading @ names an abstract socket, as $NOTIFY_SOCKET
/// may), and its length; nil when the path does not fit.
func unixAddress(_ path: String) -> (address: sockaddr_un, length: socklen_t)? {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    var bytes = Array(path.utf8)
    let abstract = bytes.first == UInt8(ascii: "@")
    if abstract { bytes[0] = 0 }
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
    return (address, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1)))
}

/// Calls `body` with `path` as a sockaddr; -1 with ENAMETOOLONG when it does not fit.
func withUnixAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
    guard var (address, length) = unixAddress(path) else { errno = ENAMETOOLONG; return -1 }
    return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
}

func connectUnix(_ fd: Int32, _ path: String) -> Bool {
    withUnixAddress(path) { connect(fd, $0, $1) } == 0
}

func connectTCP(host: String, port: UInt16) -> Int32 {
    if host.contains(":") {
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = port.bigEndian
        inet_pton(AF_INET6, host, &address.sin6_addr)
        return connectStream(AF_INET6, &address)
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    inet_pton(AF_INET, host, &address.sin_addr)
    return connectStream(AF_INET, &address)
}

/// A connected stream socket to `address` (a sockaddr_in or sockaddr_in6), or -1 with errno.
private func connectStream<Address>(_ domain: Int32, _ address: inout Address) -> Int32 {
    let fd = socket(domain, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return -1 }
    let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<Address>.size)) } }
    if rc != 0 { let e = errno; close(fd); errno = e; return -1 }
    return fd
}
