import Foundation
import Glibc
import CNetfilter
#if !FWTRACE_FUZZ_SINGLE_MODULE
import FWTraceCore
#endif

/// A libnetfilter_log handle with one nflog group bound, and the thin adapter from what the
/// library hands its callback to Core's `NflogMessage`. The library's dispatch
/// (`nflog_handle_packet`) reaches a callback only through a bound group, so a handle exists
/// only once the kernel accepted the bind: the legacy session binds group 0 of the traced
/// namespace; offline decoding (`replay`, the tests, the fuzz targets) binds it in a private,
/// empty network namespace (`NflogHandle.offline`), where nothing is ever logged.
public final class NflogHandle: NflogMessageDecoding, @unchecked Sendable {
    private var handle: OpaquePointer?
    private var groupHandle: OpaquePointer?
    public let group: UInt16
    /// The library's netlink socket (owned by the handle: `close` closes it).
    public let fd: Int32
    /// What the callback made of the message being handled.
    fileprivate var decoded: Result<NflogMessage, DecodeError>?
    /// One message through the library at a time (the offline handle is shared).
    private let lock = NSLock()
    /// A message copied here, zero bytes after it: the library's attribute walk may read a
    /// length field past a short tail, and fixed-size accessors read from the attribute's start.
    private var scratch = [UInt8](repeating: 0, count: NflogHandle.largestMessage + 64)
    /// A message holds at most 65,535 bytes of packet (the copy range) and its other attributes:
    /// anything longer is not one the kernel sends.
    public static let largestMessage = 72 << 10

    /// Opens the library's socket and binds `group`; what the kernel refused is thrown with its
    /// errno (EBUSY or EPERM: another socket holds the group; EPERM also without CAP_NET_ADMIN).
    public init(group: UInt16 = 0) throws(NflogLibraryError) {
        self.group = group
        guard let handle = nflog_open() else { throw NflogLibraryError("nflog_open", errno: errno) }
        guard let groupHandle = nflog_bind_group(handle, group) else {
            let e = errno
            nflog_close(handle)
            throw NflogLibraryError("nflog_bind_group \(group)", errno: e)
        }
        self.handle = handle
        self.groupHandle = groupHandle
        fd = nflog_fd(handle)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        nflog_callback_register(groupHandle, nflogPacketCallback, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Makes this socket the logger of protocol family `pf` (unbinding first: older kernels
    /// refuse PF_BIND while another logger is bound).
    public func bindFamily(_ pf: UInt16) throws(NflogLibraryError) {
        guard let handle else { return }
        _ = nflog_unbind_pf(handle, pf)
        guard nflog_bind_pf(handle, pf) >= 0 else { throw NflogLibraryError("nflog_bind_pf \(pf)", errno: errno) }
    }

    /// The whole packet with each message (grouping and NAT detection need it).
    public func copyWholePackets() throws(NflogLibraryError) {
        guard let groupHandle, nflog_set_mode(groupHandle, UInt8(NFULNL_COPY_PACKET), 0xffff) >= 0 else {
            throw NflogLibraryError("nflog_set_mode", errno: errno)
        }
    }

    /// Each message sent on its own, at once (queue threshold 1): by default the kernel gathers
    /// up to 100 messages per datagram and holds them up to a second, and a datagram it cannot
    /// queue is one count on the socket's drop counter however many messages it held; one per
    /// datagram makes that counter the exact number of messages lost, and adds no latency.
    public func sendEachMessageAtOnce() throws(NflogLibraryError) {
        guard let groupHandle, nflog_set_qthresh(groupHandle, 1) >= 0 else {
            throw NflogLibraryError("nflog_set_qthresh", errno: errno)
        }
    }

    /// Conntrack's info with each packet (NFULNL_CFG_F_CONNTRACK); false where the kernel lacks
    /// the ctnetlink glue, which only leaves the ct state out.
    @discardableResult
    public func includeConntrack() -> Bool {
        guard let groupHandle else { return false }
        return nflog_set_flags(groupHandle, UInt16(NFULNL_CFG_F_CONNTRACK)) >= 0
    }

    /// One netlink message, `bytes[message]` (header and body), through `nflog_handle_packet`.
    public func decode(_ bytes: [UInt8], message: Range<Int>) throws(DecodeError) -> NflogMessage {
        guard message.count >= 20, message.lowerBound >= 0, message.upperBound <= bytes.count else {
            throw DecodeError.truncated(what: "nfnetlink_log message", offset: message.lowerBound, need: 20, have: message.count)
        }
        guard message.count <= Self.largestMessage else {
            throw DecodeError.badLength(what: "nfnetlink_log message", offset: message.lowerBound, length: message.count)
        }
        lock.lock(); defer { lock.unlock() }
        guard let handle else { throw DecodeError.invalidValue(what: "nfnetlink_log message", offset: message.lowerBound, detail: "the decoder was closed") }
        decoded = nil
        let rc = scratch.withUnsafeMutableBytes { out -> Int32 in
            bytes.withUnsafeBytes { source in
                let start = out.baseAddress!
                start.copyMemory(from: source.baseAddress! + message.lowerBound, byteCount: message.count)
                (start + message.count).initializeMemory(as: UInt8.self, repeating: 0, count: 64)
                return nflog_handle_packet(handle, start.assumingMemoryBound(to: CChar.self), Int32(message.count))
            }
        }
        defer { decoded = nil }
        if let decoded { return try decoded.get() }
        let groupNumber = UInt16(bytes[message.lowerBound + 18]) << 8 | UInt16(bytes[message.lowerBound + 19])
        let detail = groupNumber != group
            ? "it is for nflog group \(groupNumber), not the bound group \(group)"
            : "libnetfilter_log refused it (nflog_handle_packet returned \(rc)): a bad length or attribute"
        throw DecodeError.invalidValue(what: "nfnetlink_log message", offset: message.lowerBound, detail: detail)
    }

    /// Closes the socket; the kernel then releases the group (and the families this socket logs
    /// for go back to no logger unless the caller restores one).
    public func close() {
        lock.lock(); defer { lock.unlock() }
        guard let handle else { return }
        // Unbinding frees the library's group handle; packets still queued reach the callback
        // meanwhile and are dropped (nobody waits for them).
        if let groupHandle { _ = nflog_unbind_group(groupHandle) }
        nflog_close(handle)
        self.handle = nil
        groupHandle = nil
    }

    deinit { close() }

    fileprivate func take(_ result: Result<NflogMessage, DecodeError>) { decoded = result }
}

/// What libnetfilter_log (or the kernel through it) refused.
public struct NflogLibraryError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let errno: Int32
    public init(_ operation: String, errno: Int32) { self.operation = operation; self.errno = errno }
    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

/// The group's callback: the message the library parsed, read through its accessors after
/// `nflog_nlmsg_parse` (the library's own validating parser) checked every attribute's length
/// and the prefix's NUL; the accessors themselves check neither.
private let nflogPacketCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<nfgenmsg>?, OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { _, header, data, context in
    guard let header, let data, let context else { return -1 }
    let decoder = Unmanaged<NflogHandle>.fromOpaque(context).takeUnretainedValue()
    decoder.take(NflogAdapter.message(header: header, data: data))
    return 0
}
