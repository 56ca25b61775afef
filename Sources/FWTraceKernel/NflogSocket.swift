import Glibc
import CNetfilter
import FWTraceCore

/// nfnetlink_log group 0, where iptables' TRACE target logs once nfnetlink_log is the bound
/// logger for the family. Configured with NFULNL_MSG_CONFIG messages; what arrives is decoded by
/// FWTraceCore's NflogDecoder. Only one socket can bind a group.
public final class NflogSocket {
    let socket: NetlinkGroupSocket
    public var fd: Int32 { socket.fd }
    public let group: UInt16

    static let configMessage: UInt16 = 4 << 8 | 1       // NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG
    static let cfgCommand: UInt16 = 1                   // NFULA_CFG_CMD
    static let cfgMode: UInt16 = 2                      // NFULA_CFG_MODE
    static let cfgFlags: UInt16 = 6                     // NFULA_CFG_FLAGS
    enum Command: UInt8 { case bind = 1, unbind = 2, pfBind = 3, pfUnbind = 4 }

    public init(group: UInt16 = 0, families: [UInt8], receiveBuffer: Int = 16 << 20) throws {
        self.group = group
        socket = try NetlinkGroupSocket(group: 0, receiveBuffer: receiveBuffer, nonblocking: false)
        // Claim the group before touching any binding: a second fwtrace must not unbind the
        // logger of the session that holds it.
        do {
            try configure(family: 0, attribute: Self.cfgCommand, payload: [Command.bind.rawValue])
        } catch let error as SystemError where error.errno == EBUSY || error.errno == EPERM {
            // The kernel answers EPERM when another socket owns the group's instance (fwtrace
            // checked CAP_NET_ADMIN before, so it is not a privilege problem).
            throw UserFacingError("nflog group \(group) is already bound in this namespace\(Self.holder(group: group)): only one program can receive iptables TRACE there at a time; stop it, or trace with the nft backend", exitCode: ExitCode.unavailable)
        }
        for family in families {
            // Unbind first: older kernels refuse PF_BIND while another logger is bound.
            try? configure(family: family, attribute: Self.cfgCommand, payload: [Command.pfUnbind.rawValue])
            try configure(family: family, attribute: Self.cfgCommand, payload: [Command.pfBind.rawValue])
        }
        // Copy the whole packet (range 0xffff): grouping and NAT detection need it.
        try configure(family: 0, attribute: Self.cfgMode, payload: [0, 0, 0xff, 0xff, 2, 0])
        // Conntrack info with each packet (NFULNL_CFG_F_CONNTRACK): optional, needs ctnetlink glue.
        try? configure(family: 0, attribute: Self.cfgFlags, payload: [0, 4])
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

    func configure(family: UInt8, attribute: UInt16, payload: [UInt8]) throws {
        var body: [UInt8] = [family, 0, UInt8(group >> 8), UInt8(group & 0xff)]
        let length = 4 + payload.count
        body += [UInt8(length & 0xff), UInt8(length >> 8), UInt8(attribute & 0xff), UInt8(attribute >> 8)] + payload
        while body.count % 4 != 0 { body.append(0) }
        try socket.request(type: Self.configMessage, body: body)
    }

    public func receive() throws -> NetlinkGroupSocket.Receive { try socket.receive() }
    public func newKernelDrops() -> UInt64? { socket.newKernelDrops() }

    /// Unbinds the group (the kernel does too when the socket closes).
    public func close() {
        try? configure(family: 0, attribute: Self.cfgCommand, payload: [Command.unbind.rawValue])
        socket.close()
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
