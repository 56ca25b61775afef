import Glibc
import CNetfilter

/// A unix socket address for `path` (a leading @ names an abstract socket, as $NOTIFY_SOCKET
/// may), and its length; nil when the path does not fit.
public struct UnixAddress {
    var storage = sockaddr_un()
    let length: socklen_t

    public init?(_ path: String) {
        storage.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: storage.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
    }

    /// `body` with the address as a sockaddr. (Result keeps the error typed through the pointer
    /// APIs' `rethrows`.)
    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemError) -> T) throws(SystemError) -> T {
        var copy = storage
        let length = self.length
        return try withUnsafePointer(to: &copy) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in Result { () throws(SystemError) in try body(address, length) } }
        }.get()
    }
}

/// Sockets of fwtrace's own, each an owned descriptor.
public enum Socket {
    static func make(_ domain: Int32, _ type: Int32) throws(SystemError) -> FileDescriptor {
        FileDescriptor(adopting: try systemCall("socket") { socket(domain, type | Int32(SOCK_CLOEXEC.rawValue), 0) })
    }

    /// The next connection on a listening socket (polled first): nil when none is pending (the
    /// client went away in between); out of descriptors is an error that says so.
    static func accept(on listener: FileDescriptor) throws(SystemError) -> FileDescriptor? {
        do {
            return FileDescriptor(adopting: try systemCall("accept") { fwt_accept4(listener.rawValue, nil, nil, Int32(SOCK_CLOEXEC.rawValue)) })
        } catch where error.outOfDescriptors {
            throw error
        } catch {
            return nil
        }
    }

    /// A stream connected to the unix socket at `path`.
    public static func connectUnixStream(_ path: String) throws(SystemError) -> FileDescriptor {
        let fd = try make(AF_UNIX, Int32(SOCK_STREAM.rawValue))
        try connect(fd, unix: path)
        return fd
    }

    /// A TCP stream to `host` (an IPv4 or IPv6 literal) and `port`.
    public static func connectTCP(host: String, port: UInt16) throws(SystemError) -> FileDescriptor {
        if host.contains(":") {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &address.sin6_addr)
            return try connectStream(AF_INET6, &address)
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        return try connectStream(AF_INET, &address)
    }

    private static func connectStream<Address>(_ domain: Int32, _ address: inout Address) throws(SystemError) -> FileDescriptor {
        let fd = try make(domain, Int32(SOCK_STREAM.rawValue))
        let size = socklen_t(MemoryLayout<Address>.size)
        try withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                Result { () throws(SystemError) in _ = try systemCall("connect") { Glibc.connect(fd.rawValue, raw, size) } }
            }
        }.get()
        return fd
    }

    /// connect(2) to a unix path (ENAMETOOLONG when it does not fit). EINTR is retried like
    /// every call: a retried connect reports EALREADY or EISCONN, which Linux unix sockets do
    /// not (they connect at once or fail).
    static func connect(_ fd: FileDescriptor, unix path: String) throws(SystemError) {
        guard let address = UnixAddress(path) else { throw SystemError("connect \(path)", errno: ENAMETOOLONG) }
        try address.withSockaddr { (raw, length) throws(SystemError) in
            _ = try systemCall("connect \(path)") { Glibc.connect(fd.rawValue, raw, length) }
        }
    }
}

/// A unix datagram socket: journald's native protocol, sd_notify.
public final class DatagramSocket: @unchecked Sendable {
    public let descriptor: FileDescriptor

    public init() throws(SystemError) { descriptor = try Socket.make(AF_UNIX, Int32(SOCK_DGRAM.rawValue)) }

    /// Connected to `path`: `send` needs no address.
    public convenience init(connectedTo path: String) throws(SystemError) {
        try self.init()
        try Socket.connect(descriptor, unix: path)
    }

    public func send(_ bytes: [UInt8]) throws(SystemError) {
        let descriptor = self.descriptor
        _ = try bytes.withUnsafeBytes { raw in Result { () throws(SystemError) in try descriptor.send(raw) } }.get()
    }

    /// One datagram to `path`, unconnected.
    public func send(_ bytes: [UInt8], to path: String) throws(SystemError) {
        guard let address = UnixAddress(path) else { throw SystemError("sendto \(path)", errno: ENAMETOOLONG) }
        let fd = descriptor.rawValue
        try bytes.withUnsafeBytes { raw in
            Result { () throws(SystemError) in
                try address.withSockaddr { (sockaddr, length) throws(SystemError) in
                    _ = try systemCall("sendto \(path)") { sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), sockaddr, length) }
                }
            }
        }.get()
    }

    /// An empty datagram carrying `passed` (SCM_RIGHTS).
    public func send(descriptor passed: FileDescriptor) throws(SystemError) {
        let space = MemoryLayout<cmsghdr>.stride + MemoryLayout<Int64>.stride   // CMSG_SPACE(sizeof(int))
        var control = [UInt8](repeating: 0, count: space)
        let fd = descriptor.rawValue
        try control.withUnsafeMutableBytes { buffer in
            let header = buffer.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
            header.pointee.cmsg_len = MemoryLayout<cmsghdr>.size + MemoryLayout<Int32>.size
            header.pointee.cmsg_level = SOL_SOCKET
            header.pointee.cmsg_type = Int32(SCM_RIGHTS)
            (buffer.baseAddress! + MemoryLayout<cmsghdr>.size).storeBytes(of: passed.rawValue, as: Int32.self)
            var message = msghdr()
            message.msg_control = buffer.baseAddress
            message.msg_controllen = buffer.count
            return Result { () throws(SystemError) in _ = try systemCall("sendmsg") { sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) } }
        }.get()
    }
}

/// A sealed memfd holding `bytes`: what journald's native protocol takes for an entry too large
/// for one datagram (sd_journal_sendv does the same).
public enum SealedMemoryFile {
    /// memfd_create is in glibc (2.27+) but not in Swift's Glibc module: looked up once.
    private static let memfdCreate: (@convention(c) (UnsafePointer<CChar>, UInt32) -> Int32)? =
        dlsym(nil, "memfd_create").map { unsafeBitCast($0, to: (@convention(c) (UnsafePointer<CChar>, UInt32) -> Int32).self) }

    public static func make(name: String, holding bytes: [UInt8]) throws(SystemError) -> FileDescriptor {
        let cloexecAllowSealing: UInt32 = 0x1 | 0x2                          // MFD_CLOEXEC | MFD_ALLOW_SEALING
        guard let create = memfdCreate else { throw SystemError("memfd_create", errno: ENOSYS) }
        let fd = FileDescriptor(adopting: try systemCall("memfd_create") { create(name, cloexecAllowSealing) })
        try fd.writeAll(bytes)
        let addSeals: Int32 = 1033, allSeals: Int32 = 0x1 | 0x2 | 0x4 | 0x8  // F_ADD_SEALS; SEAL, SHRINK, GROW, WRITE
        try systemCall("fcntl F_ADD_SEALS") { fcntl(fd.rawValue, addSeals, allSeals) }
        return fd
    }
}

/// A listening TCP socket on a loopback address (the daemon's metrics), SO_REUSEADDR so a restart
/// binds at once; closed with its descriptor.
public final class TCPListener: @unchecked Sendable {
    public let descriptor: FileDescriptor

    /// `host`: 127.0.0.1 (any IPv4 literal) or ::1 (any IPv6 literal); `port` 1-65535.
    public init(host: String, port: UInt16, backlog: Int32 = 16) throws(SystemError) {
        let v6 = host.contains(":")
        descriptor = try Socket.make(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue))
        let fd = descriptor.rawValue
        var on: Int32 = 1
        try systemCall("setsockopt SO_REUSEADDR") { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(4)) }
        if v6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else { throw SystemError("bind \(host)", errno: EINVAL) }
            try Self.bind(fd, &address, "[\(host)]:\(port)")
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw SystemError("bind \(host)", errno: EINVAL) }
            try Self.bind(fd, &address, "\(host):\(port)")
        }
        try systemCall("listen") { Glibc.listen(fd, backlog) }
    }

    private static func bind<Address>(_ fd: Int32, _ address: inout Address, _ text: String) throws(SystemError) {
        let size = socklen_t(MemoryLayout<Address>.size)
        try withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                Result { () throws(SystemError) in _ = try systemCall("bind \(text)") { Glibc.bind(fd, raw, size) } }
            }
        }.get()
    }

    /// The next connection; nil when none is pending.
    public func accept() throws(SystemError) -> FileDescriptor? { try Socket.accept(on: descriptor) }
}
