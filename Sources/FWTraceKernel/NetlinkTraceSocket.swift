import Glibc
import Foundation
import CNetfilter
import FWTraceCore

/// A netfilter netlink socket joined to one multicast group: NFNLGRP_NFTRACE for trace events,
/// NFNLGRP_NFTABLES for ruleset changes. Non-blocking; the caller polls its descriptor.
public final class NetlinkGroupSocket {
    private var socket: OpaquePointer?
    public let fd: Int32
    public let inode: UInt64
    private var buffer: [UInt8]
    private var lastKernelDrops: UInt64 = 0
    /// Losses seen as ENOBUFS since the last call of `takeLosses`.
    public private(set) var overruns = 0
    /// The receive buffer asked of the kernel (SO_RCVBUF(FORCE); the kernel doubles it for its
    /// bookkeeping). Doubled on each ENOBUFS up to `maxReceiveBuffer`, as ulogd does.
    public private(set) var receiveBuffer: Int
    public let maxReceiveBuffer: Int
    /// Batched receive: `batchSlots` datagrams of up to `slotSize` bytes per recvmmsg call (16 KiB
    /// by default: an nft trace datagram is a few; an nflog one holds up to 64 KiB of packet).
    static let batchSlots = 64
    public var slotSize = 16 << 10
    private var batchBuffer: [UInt8] = []
    private var headers: [fwt_mmsghdr] = []
    private var iovecs: [iovec] = []

    public static func traceEvents(receiveBuffer: Int = 16 << 20) throws -> NetlinkGroupSocket {
        try NetlinkGroupSocket(group: fwt_nfnlgrp_nftrace, receiveBuffer: receiveBuffer, maxReceiveBuffer: max(receiveBuffer, 64 << 20))
    }

    public static func rulesetChanges() throws -> NetlinkGroupSocket {
        try NetlinkGroupSocket(group: fwt_nfnlgrp_nftables, receiveBuffer: 1 << 20)
    }

    init(group: UInt32, receiveBuffer: Int, maxReceiveBuffer: Int? = nil, nonblocking: Bool = true) throws {
        self.receiveBuffer = receiveBuffer
        self.maxReceiveBuffer = maxReceiveBuffer ?? max(receiveBuffer, 64 << 20)
        let flags = Int32(SOCK_CLOEXEC.rawValue) | (nonblocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        guard let socket = mnl_socket_open2(NETLINK_NETFILTER, flags) else {
            let e = errno
            if e == EPROTONOSUPPORT || e == EAFNOSUPPORT {
                throw UserFacingError("this kernel has no netfilter netlink (nfnetlink): load it with `modprobe nfnetlink nf_tables`", exitCode: ExitCode.unavailable)
            }
            throw SystemError("open netfilter netlink socket", errno: e)
        }
        self.socket = socket
        fd = mnl_socket_get_fd(socket)
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let e = errno; mnl_socket_close(socket)
            throw SystemError("bind netfilter netlink socket", errno: e)
        }
        var g = group
        guard group == 0 || mnl_socket_setsockopt(socket, fwt_netlink_add_membership, &g, socklen_t(MemoryLayout<UInt32>.size)) == 0 else {
            let e = errno; mnl_socket_close(socket)
            if e == EPERM { throw UserFacingError("joining netfilter's trace group needs CAP_NET_ADMIN: run fwtrace as root", exitCode: ExitCode.noPrivilege) }
            throw SystemError("join netlink group \(group)", errno: e)
        }
        Self.setReceiveBuffer(fd, receiveBuffer)
        var st = stat()
        fstat(fd, &st)
        inode = UInt64(st.st_ino)
        buffer = [UInt8](repeating: 0, count: 1 << 18)
    }

    /// A netlink socket another owner opened and closes (libnetfilter_log's, for the legacy
    /// backend), read with the same receive path; `close` leaves it open.
    init(borrowing fd: Int32, receiveBuffer: Int, maxReceiveBuffer: Int? = nil) {
        self.receiveBuffer = receiveBuffer
        self.maxReceiveBuffer = maxReceiveBuffer ?? max(receiveBuffer, 64 << 20)
        self.fd = fd
        Self.setReceiveBuffer(fd, receiveBuffer)
        var st = stat()
        fstat(fd, &st)
        inode = UInt64(st.st_ino)
        buffer = [UInt8](repeating: 0, count: 1 << 18)
    }

    /// SO_RCVBUFFORCE passes rmem_max (root only); fall back to what SO_RCVBUF allows.
    static func setReceiveBuffer(_ fd: Int32, _ bytes: Int) {
        var size = Int32(clamping: bytes)
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// After an overrun: a bigger queue, so that the next burst fits (bounded; the losses are
    /// reported either way, from the kernel's own count).
    func growReceiveBuffer() {
        guard receiveBuffer < maxReceiveBuffer else { return }
        receiveBuffer = min(maxReceiveBuffer, receiveBuffer * 2)
        Self.setReceiveBuffer(fd, receiveBuffer)
    }

    /// SO_MEMINFO (asm-generic/socket.h): the socket's memory counters, SK_MEMINFO_RMEM_ALLOC
    /// first, then SK_MEMINFO_RCVBUF.
    static let soMeminfo: Int32 = 55

    private var meminfoDrops: UInt32 = 0

    /// Asks the kernel how full the queue is and whether it dropped anything since the last
    /// call (SO_MEMINFO, one getsockopt): grows the buffer when the queue holds more than half
    /// of it, before it overflows, and after any drop; true when there were new drops (their
    /// exact number is `newKernelDrops()`).
    public func checkQueue() -> Bool {
        var info = [UInt32](repeating: 0, count: 9)
        var length = socklen_t(info.count * 4)
        guard info.withUnsafeMutableBytes({ getsockopt(fd, SOL_SOCKET, Self.soMeminfo, $0.baseAddress, &length) }) == 0,
              length >= 36 else { return false }
        let dropped = info[8] != meminfoDrops   // SK_MEMINFO_DROPS
        meminfoDrops = info[8]
        if dropped || UInt64(info[0]) * 2 > UInt64(info[1]) { growReceiveBuffer() }
        return dropped
    }

    /// No ENOBUFS error on overflow (NETLINK_NO_ENOBUFS). With it, the kernel drops only what
    /// does not fit; without it, an overflow marks the socket congested and the kernel drops
    /// every message until the queue has been read empty. Losses are then found with
    /// `checkQueue()` and counted exactly from the kernel's drop counter.
    public func disableENOBUFS() -> Bool {
        var on: Int32 = 1
        return setsockopt(fd, fwt_sol_netlink, fwt_netlink_no_enobufs, &on, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    public enum Receive { case datagram([UInt8]), wouldBlock, overrun }

    func setNonblocking() {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    /// One datagram, or wouldBlock when the queue is empty, or overrun when the kernel dropped
    /// messages (ENOBUFS): the count is read from the kernel with `kernelDrops()`.
    public func receive() throws -> Receive {
        let fd = self.fd
        do {
            let n = try systemCall("receive from netlink") { buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
            return n > 0 ? .datagram(Array(buffer[0..<n])) : .wouldBlock
        } catch {
            return try failedReceive(error)
        }
    }

    public enum Batch { case received(Int), wouldBlock, overrun }

    /// Up to `batchSlots` datagrams with one recvmmsg call. Each is handed to `body` where it lies
    /// in the batch buffer (the buffer and the datagram's range in it): no copy per datagram. The
    /// buffer is reused by the next call, so `body` must copy what it keeps.
    public func receiveBatch(_ body: ([UInt8], Range<Int>) throws -> Void) throws -> Batch {
        let slots = Self.batchSlots, slotSize = self.slotSize
        if batchBuffer.isEmpty {
            batchBuffer = [UInt8](repeating: 0, count: slots * slotSize)
            headers = [fwt_mmsghdr](repeating: fwt_mmsghdr(), count: slots)
            iovecs = [iovec](repeating: iovec(), count: slots)
        }
        let received: Int32
        do {
            received = try systemCall("receive from netlink") { receiveIntoSlots() }
        } catch {
            if case .overrun = try failedReceive(error) { return .overrun }
            return .wouldBlock
        }
        if received == 0 { return .wouldBlock }
        for i in 0..<Int(received) {
            // A datagram larger than a slot arrives cut (MSG_TRUNC); its decoder reports it.
            let length = min(Int(headers[i].msg_len), slotSize)
            try body(batchBuffer, (i * slotSize)..<(i * slotSize + length))
        }
        return .received(Int(received))
    }

    /// A failed receive: wouldBlock on an empty queue, overrun when the kernel dropped messages.
    private func failedReceive(_ error: SystemError) throws(SystemError) -> Receive {
        if error.wouldBlock { return .wouldBlock }
        guard error.overrun else { throw error }
        overruns += 1
        growReceiveBuffer()
        return .overrun
    }

    /// One recvmmsg(MSG_DONTWAIT) into the batch buffer's slots: the datagrams received, or -1.
    private func receiveIntoSlots() -> Int32 {
        let slots = Self.batchSlots, slotSize = self.slotSize, fd = self.fd
        return batchBuffer.withUnsafeMutableBytes { raw in
            iovecs.withUnsafeMutableBufferPointer { iov in
                headers.withUnsafeMutableBufferPointer { h in
                    for i in 0..<slots {
                        iov[i] = iovec(iov_base: raw.baseAddress! + i * slotSize, iov_len: slotSize)
                        h[i] = fwt_mmsghdr()
                        h[i].msg_hdr.msg_iov = iov.baseAddress! + i
                        h[i].msg_hdr.msg_iovlen = 1
                    }
                    return fwt_recvmmsg(fd, h.baseAddress, UInt32(slots), Int32(MSG_DONTWAIT))
                }
            }
        }
    }

    /// Messages the kernel dropped for this socket since the last call. The kernel counts every
    /// message that did not fit, one for one, in the socket's sk_drops: read from the socket with
    /// SO_MEMINFO (any thread, any namespace), or else from the Drops column of /proc/net/netlink,
    /// which prints the same counter. Only one thread may call this (the session's).
    public func newKernelDrops() -> UInt64? {
        var info = [UInt32](repeating: 0, count: 9)
        var length = socklen_t(info.count * 4)
        if info.withUnsafeMutableBytes({ getsockopt(fd, SOL_SOCKET, Self.soMeminfo, $0.baseAddress, &length) }) == 0, length >= 36 {
            let total = info[8]   // SK_MEMINFO_DROPS: a 32-bit counter, so differences wrap
            defer { lastSocketDrops = total }
            return UInt64(total &- lastSocketDrops)
        }
        guard let total = Self.kernelDrops(inode: inode) else { return nil }
        defer { lastKernelDrops = total }
        return total >= lastKernelDrops ? total - lastKernelDrops : 0
    }

    private var lastSocketDrops: UInt32 = 0

    static func kernelDrops(inode: UInt64) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/thread-self/net/netlink", encoding: .utf8) else { return nil }
        // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count >= 10, UInt64(fields[9]) == inode else { continue }
            return UInt64(fields[8])
        }
        return nil
    }

    public func close() {
        if let socket { mnl_socket_close(socket) }
        socket = nil
    }

    deinit { close() }
}
