import Glibc
import Foundation
import CNetfilter

/// A descriptor fwtrace owns: closed exactly once, by `close()` or when the last reference goes
/// (a second `close()` does nothing, so no code path can close a number the kernel has since
/// handed to someone else). Every call on it goes through `systemCall`.
public final class FileDescriptor: @unchecked Sendable {
    /// The kernel's number; valid until `close()`. Hand it only to calls that do not keep it.
    public let rawValue: Int32
    private let lock = NSLock()
    private var open = true

    /// Takes ownership of `rawValue` (which must be a valid descriptor no one else closes).
    public init(adopting rawValue: Int32) { self.rawValue = rawValue }

    deinit { close() }

    public var isOpen: Bool { lock.lock(); defer { lock.unlock() }; return open }

    /// Closes it, once; later calls do nothing. close(2) is not retried on EINTR: on Linux the
    /// descriptor is gone either way.
    public func close() {
        lock.lock()
        let wasOpen = open
        open = false
        lock.unlock()
        if wasOpen { _ = Glibc.close(rawValue) }
    }

    /// open(2); `mode` for a file it creates.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(SystemError) -> FileDescriptor {
        FileDescriptor(adopting: try systemCall("open \(path)") { Glibc.open(path, flags | O_CLOEXEC, mode) })
    }

    /// A file opened to append to; made with `mode` (umask applies) when it did not exist, and
    /// then `created` is true (only then may its owner and mode be set).
    public static func openForAppending(_ path: String, mode: mode_t) throws(SystemError) -> (file: FileDescriptor, created: Bool) {
        do {
            return (try open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL, mode: mode), true)
        } catch where error.exists {
            return (try open(path, O_WRONLY | O_APPEND), false)
        }
    }

    // MARK: - I/O

    /// read(2) into `buffer`: the byte count, 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try systemCall("read") { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// recv(2) into `buffer`: the byte count, 0 when the peer closed.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0) throws(SystemError) -> Int {
        try systemCall("recv") { recv(rawValue, buffer.baseAddress, buffer.count, flags) }
    }

    /// recv(2) without waiting (MSG_DONTWAIT): the byte count (0 when the peer closed), nil when
    /// there is nothing to read now.
    public func receiveNow(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        do { return try receive(into: buffer, flags: Int32(MSG_DONTWAIT)) } catch where error.wouldBlock { return nil }
    }

    /// send(2) without SIGPIPE: the bytes taken.
    public func send(_ bytes: UnsafeRawBufferPointer, flags: Int32 = 0) throws(SystemError) -> Int {
        try systemCall("send") { Glibc.send(rawValue, bytes.baseAddress, bytes.count, flags | Int32(MSG_NOSIGNAL)) }
    }

    /// send(2) of a whole buffer without waiting (MSG_DONTWAIT): the bytes taken, 0 when the
    /// socket's buffer is full.
    public func sendNow(_ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        do { return try send(bytes, flags: Int32(MSG_DONTWAIT)) } catch where error.wouldBlock { return 0 }
    }

    /// Writes all of `bytes`, to a socket (without SIGPIPE) or a file or pipe.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemError) { try writeAllBytes(rawValue, bytes) }
    public func writeAll(_ bytes: [UInt8]) throws(SystemError) {
        // Result carries the typed error through Array's `rethrows`, which would widen it.
        let fd = rawValue
        try bytes.withUnsafeBytes { raw in Result { () throws(SystemError) in try writeAllBytes(fd, raw) } }.get()
    }

    // MARK: - settings

    public func setNonBlocking() throws(SystemError) {
        let flags = try systemCall("fcntl F_GETFL") { fcntl(rawValue, F_GETFL) }
        try systemCall("fcntl F_SETFL") { fcntl(rawValue, F_SETFL, flags | O_NONBLOCK) }
    }

    /// SO_SNDTIMEO: a blocking send gives up (EAGAIN) after `seconds`.
    public func setSendTimeout(seconds: Int) throws(SystemError) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        try systemCall("setsockopt SO_SNDTIMEO") { setsockopt(rawValue, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) }
    }

    /// SO_SNDBUF (the kernel doubles it and caps it at wmem_max).
    public func setSendBuffer(bytes: Int32) throws(SystemError) {
        var size = bytes
        try systemCall("setsockopt SO_SNDBUF") { setsockopt(rawValue, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(4)) }
    }

    /// fchown to root-unchanged and `group`; fchmod to `mode`.
    public func changeGroup(_ group: UInt32) throws(SystemError) {
        try systemCall("fchown") { fchown(rawValue, uid_t.max, group) }
    }
    public func changeMode(_ mode: mode_t) throws(SystemError) {
        try systemCall("fchmod") { fchmod(rawValue, mode) }
    }
}

/// Writes all of `bytes` to `fd` (not owned: stdout, stderr): send without SIGPIPE on a socket,
/// write(2) on anything else.
public func writeAllBytes(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
    var offset = 0
    var isSocket = true
    while offset < bytes.count {
        let pointer = bytes.baseAddress! + offset, length = bytes.count - offset
        let n: Int
        do {
            n = try systemCall("write") {
                isSocket ? Glibc.send(fd, pointer, length, Int32(MSG_NOSIGNAL)) : Glibc.write(fd, pointer, length)
            }
        } catch where error.errno == ENOTSOCK && isSocket {
            isSocket = false
            continue
        }
        offset += n
    }
}

/// writeAllBytes, false on error (errno says which): for output whose failure is only counted.
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    do { try writeAllBytes(fd, bytes); return true } catch { Glibc.errno = error.errno; return false }
}

@discardableResult
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { writeAll(fd, $0) } }

/// Descriptors to wait on at once (poll(2)); which of them became ready.
public struct PollSet {
    public struct Events: OptionSet, Sendable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: Int16(POLLIN))
        public static let writable = Events(rawValue: Int16(POLLOUT))
        public static let hangup = Events(rawValue: Int16(POLLHUP))
        public static let error = Events(rawValue: Int16(POLLERR))
    }

    private var entries: [pollfd] = []
    public init() {}

    /// Adds `fd` (a FileDescriptor's or a session's raw number) for `events`; its index in `ready`.
    @discardableResult
    public mutating func add(_ fd: Int32, _ events: Events = .readable) -> Int {
        entries.append(pollfd(fd: fd, events: events.rawValue, revents: 0))
        return entries.count - 1
    }
    @discardableResult
    public mutating func add(_ descriptor: FileDescriptor, _ events: Events = .readable) -> Int { add(descriptor.rawValue, events) }

    /// Waits up to `timeout` seconds (nil: until one is ready); what each entry reported, in order.
    public mutating func wait(timeout: Double?) throws(SystemError) -> [Events] {
        for i in entries.indices { entries[i].revents = 0 }
        let milliseconds = timeout.map(pollTimeout) ?? -1
        let count = nfds_t(entries.count)
        try entries.withUnsafeMutableBufferPointer { buffer in
            Result { () throws(SystemError) in _ = try systemCall("poll") { poll(buffer.baseAddress, count, milliseconds) } }
        }.get()
        return entries.map { Events(rawValue: $0.revents) }
    }
}

/// A poll(2) timeout in milliseconds for a wait in seconds: rounded up (the wait never ends
/// before it is due) and clamped to what poll takes (Int32(seconds * 1000) of a long wait trapped).
public func pollTimeout(_ seconds: Double) -> Int32 {
    guard seconds > 0 else { return 0 }   // NaN too
    let milliseconds = (seconds * 1000).rounded(.up)
    return milliseconds >= Double(Int32.max) ? Int32.max : Int32(milliseconds)
}
