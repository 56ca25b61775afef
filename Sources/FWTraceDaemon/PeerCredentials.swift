import Glibc
import Foundation
import CNetfilter

/// Who is on the other end of the control socket (SO_PEERCRED), and whether they may use it.
public struct PeerCredentials: Sendable, CustomStringConvertible {
    public let pid: Int32
    public let uid: UInt32
    public let gid: UInt32

    public static func of(_ fd: Int32) -> PeerCredentials? {
        var cred = fwt_ucred()
        var length = socklen_t(MemoryLayout<fwt_ucred>.size)
        guard getsockopt(fd, SOL_SOCKET, fwt_so_peercred, &cred, &length) == 0 else { return nil }
        return PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid)
    }

    public var userName: String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return String(cString: name)
    }

    public var description: String { "\(userName) (uid \(uid), gid \(gid), pid \(pid))" }

    /// root, or a member of the socket's group (primary, supplementary of the process, or of the user).
    public func isAuthorized(group: UInt32) -> Bool {
        if uid == 0 || gid == group { return true }
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Groups:") }) {
            if line.dropFirst(7).split(separator: " ").compactMap({ UInt32($0.trimmingCharacters(in: .whitespaces)) }).contains(group) { return true }
        }
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return false }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &groups, &count) < 0 { return false }
        return groups.prefix(Int(count)).contains(group)
    }

    public static func groupID(named name: String) -> UInt32? {
        if let entry = getgrnam(name) { return entry.pointee.gr_gid }
        return nil
    }
}
