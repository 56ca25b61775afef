import Glibc
import CNetfilter
import FWTraceCore
import FWTraceNflog

/// nfnetlink_log group 0, where iptables' TRACE target logs once nfnetlink_log is the bound
/// logger for the family: configured through libnetfilter_log (`NflogHandle`: nflog_bind_group,
/// nflog_bind_pf, nflog_set_mode, nflog_set_qthresh, nflog_set_flags), which also decodes what arrives
/// (nflog_handle_packet); its socket is read with the nft backend's receive path. Only one
/// socket can bind a group.
public final class NflogSocket {
    public let library: NflogHandle
    let socket: NetlinkGroupSocket

    public init(group: UInt16 = 0, families: [UInt8], receiveBuffer: Int = 16 << 20) throws {
        // Claim the group before touching any binding: a second fwtrace must not unbind the
        // logger of the session that holds it.
        do {
            library = try NflogHandle(group: group)
        } catch where error.errno == EBUSY || error.errno == EPERM {
            // The kernel answers EPERM when another socket owns the group's instance (fwtrace
            // checked CAP_NET_ADMIN before, so it is not a privilege problem).
            throw UserFacingError("nflog group \(group) is already bound in this namespace\(Self.holder(group: group)): only one program can receive iptables TRACE there at a time; stop it, or trace with the nft backend", exitCode: ExitCode.unavailable)
        } catch where error.errno == EPROTONOSUPPORT || error.errno == EAFNOSUPPORT {
            throw UserFacingError("this kernel has no netfilter netlink (nfnetlink): load it with `modprobe nfnetlink nfnetlink_log`", exitCode: ExitCode.unavailable)
        } catch {
            throw SystemError(error.operation, errno: error.errno)
        }
        do {
            for family in families { try library.bindFamily(UInt16(family)) }
            // Copy the whole packet (range 0xffff): grouping and NAT detection need it.
            try library.copyWholePackets()
            try library.sendEachMessageAtOnce()
        } catch {
            library.close()
            throw SystemError(error.operation, errno: error.errno)
        }
        // Conntrack info with each packet: optional, needs ctnetlink glue.
        library.includeConntrack()
        socket = NetlinkGroupSocket(borrowing: library.fd, receiveBuffer: receiveBuffer)
        // Its datagrams carry whole packets (copy range 0xffff): slots as large as a message.
        socket.slotSize = NflogHandle.largestMessage
        socket.setNonblocking()
    }

    /// Who holds the group, from /proc/net/netfilter/nfnetlink_log (the portid is usually the PID).
    static func holder(group: UInt16) -> String {
        guard let text = try? String(contentsOfFile: "/proc/thread-self/net/netfilter/nfnetlink_log", encoding: .utf8) else { return "" }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 2, Int(f[0]) == Int(group), let portid = Int32(f[1]) else { continue }
            let comm = (try? String(contentsOfFile: "/proc/\(portid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            return comm.map { " by process \(portid) (\($0))" } ?? " by netlink port \(portid)"
        }
        return ""
    }

    /// Unbinds the group and closes the library's socket (the kernel unbinds on close too).
    public func close() {
        socket.close()
        library.close()
    }
}

/// Which logger each family uses in this namespace (/proc/sys/net/netfilter/nf_log/<pf>). The
/// binding outlives the process that made it, so fwtrace records the previous one in a state file
/// and restores it on exit, and on the next start after a crash.
public enum LoggerBinding {
    public static let families: [UInt8] = [2, 10]
    static func path(_ family: UInt8) -> String { "/proc/sys/net/netfilter/nf_log/\(family)" }

    public static func current(_ family: UInt8) -> String? {
        (try? String(contentsOfFile: path(family), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes a logger name back ("NONE" unbinds).
    public static func restore(_ family: UInt8, to value: String) { write(path(family), value) }

    static func write(_ path: String, _ value: String) {
        // Best effort: a sysctl that cannot be set leaves the kernel's value.
        guard let fd = try? FileDescriptor.open(path, O_WRONLY) else { return }
        try? fd.writeAll(Array(value.utf8))
    }
}

/// net.netfilter.nf_conntrack_log_invalid of the traced namespace (0 off, a protocol number, 255 all).
public enum ConntrackInvalidLog {
    static let path = "/proc/sys/net/netfilter/nf_conntrack_log_invalid"

    public static func current() -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static func set(_ value: String) { LoggerBinding.write(path, value) }
}
