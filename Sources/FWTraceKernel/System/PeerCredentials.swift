import Glibc
import CNetfilter

/// Who is on the other end of the control socket, as the kernel recorded it at connect time
/// (SO_PEERCRED, SO_PEERGROUPS), and whether they may use it.
public struct PeerCredentials: Sendable, CustomStringConvertible {
    public let pid: Int32
    public let uid: UInt32
    public let gid: UInt32
    /// Supplementary groups at connect time; nil when the kernel could not say (then the user's
    /// groups from the group database are used).
    public let groups: [UInt32]?
    public let userName: String

    public static func of(_ connection: FileDescriptor) -> PeerCredentials? {
        let fd = connection.rawValue
        var cred = fwt_ucred()
        var length = socklen_t(MemoryLayout<fwt_ucred>.size)
        guard getsockopt(fd, SOL_SOCKET, fwt_so_peercred, &cred, &length) == 0 else { return nil }
        var list = [gid_t](repeating: 0, count: 256)
        var size = socklen_t(list.count * MemoryLayout<gid_t>.size)
        let groups: [UInt32]? = getsockopt(fd, SOL_SOCKET, fwt_so_peergroups, &list, &size) == 0
            ? Array(list.prefix(Int(size) / MemoryLayout<gid_t>.size)) : nil
        return PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid, groups: groups, userName: Self.name(of: cred.uid) ?? "uid \(cred.uid)")
    }

    /// The peer's uid alone, with no user lookup: the accept loop counts connections by it.
    public static func uid(of connection: FileDescriptor) -> UInt32? {
        var cred = fwt_ucred()
        var length = socklen_t(MemoryLayout<fwt_ucred>.size)
        guard getsockopt(connection.rawValue, SOL_SOCKET, fwt_so_peercred, &cred, &length) == 0 else { return nil }
        return cred.uid
    }

    public var description: String { "\(userName) (uid \(uid), gid \(gid), pid \(pid))" }

    /// root, or the group as the peer's primary or supplementary group.
    public func isAuthorized(group: UInt32) -> Bool {
        if uid == 0 || gid == group { return true }
        if let groups { return groups.contains(group) }
        guard let name = Self.name(of: uid) else { return false }
        var count: Int32 = 256
        var list = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &list, &count) < 0 { return false }
        return list.prefix(Int(count)).contains(group)
    }

    /// getpwuid_r: client threads look users up concurrently.
    public static func name(of uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return nil }
        return String(cString: name)
    }

    public static func groupID(named name: String) -> UInt32? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }

    /// A group's name, nil when the group database has none.
    public static func groupName(of gid: UInt32) -> String? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrgid_r(gid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.gr_name else { return nil }
        return String(cString: name)
    }
}
