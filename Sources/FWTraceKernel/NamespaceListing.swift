import Glibc
import FWTraceCore

/// Every network namespace on the host, each once (by its nsfs inode): the ones with an `ip netns`
/// name (/run/netns), the ones processes run in (/proc/PID/ns/net) and the ones held only by an
/// nsfs bind mount elsewhere (/proc/self/mountinfo: a runtime's own netns directory). For
/// `--all-netns`: its names, a path that opens it, and the container its processes belong to.
/// There is no netlink event for a new namespace: a session rescans.
public struct NamespaceListing: Sendable {
    public struct Entry: Sendable, Equatable {
        public var inode: UInt64
        /// Its `ip netns` names.
        public var names: [String] = []
        /// nsfs bind mounts of it outside /run/netns (a runtime's own netns directory).
        public var mounts: [String] = []
        /// Processes in it (lowest first), at most `maxPIDs`.
        public var pids: [Int32] = []
        /// The container of its processes, when a runtime's cgroup names one.
        public var container: ContainerCgroup?
        public var isInitial = false

        /// A path that opens it: its first `ip netns` name's, else a bind mount, else a process's.
        public func path(runNetns: String = "/run/netns", proc: String = "/proc") -> String? {
            if let name = names.first { return runNetns + "/" + name }
            if let mount = mounts.first { return mount }
            return pids.first.map { "\(proc)/\($0)/ns/net" }
        }
    }

    public private(set) var entries: [Entry] = []
    static let maxPIDs = 8

    /// Scans /run/netns, /proc/self/mountinfo and /proc/*/ns/net (roots given for the tests).
    public static func scan(runNetns: String = "/run/netns", proc: String = "/proc") -> NamespaceListing {
        var byInode: [UInt64: Entry] = [:]
        func add(_ path: String, _ update: (inout Entry) -> Void) {
            guard let inode = inodeOf(path) else { return }
            var entry = byInode[inode] ?? Entry(inode: inode)
            update(&entry)
            byInode[inode] = entry
        }
        for name in SmallFiles.names(inDirectory: runNetns).sorted() {
            add(runNetns + "/" + name) { $0.names.append(name) }
        }
        for mount in nsfsMounts(proc + "/self/mountinfo") where !mount.hasPrefix(runNetns + "/") {
            add(mount) { if !$0.mounts.contains(mount) { $0.mounts.append(mount) } }
        }
        for pid in SmallFiles.names(inDirectory: proc).compactMap({ Int32($0) }).sorted() {
            add("\(proc)/\(pid)/ns/net") { entry in
                if entry.pids.count < maxPIDs { entry.pids.append(pid) }
                if entry.container == nil, let text = SmallFiles.read("\(proc)/\(pid)/cgroup", limit: 64 << 10) { entry.container = ContainerCgroup(cgroup: text) }
            }
        }
        // The initial namespace holds the host's processes, whatever their cgroups: PID 1's, or
        // where PID 1 cannot be read (a sandbox that hides it), this process's own.
        if let initial = inodeOf(proc + "/1/ns/net") ?? inodeOf(proc + "/self/ns/net") { byInode[initial]?.isInitial = true; byInode[initial]?.container = nil }
        var listing = NamespaceListing()
        listing.entries = byInode.values.sorted { ($0.isInitial ? 0 : 1, $0.inode) < ($1.isInitial ? 0 : 1, $1.inode) }
        return listing
    }

    /// The nsfs inode of the namespace a path opens (nil if it does not).
    public static func inode(of path: String) -> UInt64? { inodeOf(path) }

    static func inodeOf(_ path: String) -> UInt64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }

    /// Mount points of nsfs mounts of network namespaces (mountinfo: field 4, the root, is
    /// `net:[INODE]`, field 5 the mount point; after " - " the type `nsfs`). Octal escapes (\040) decoded.
    static func nsfsMounts(_ mountinfo: String) -> [String] {
        guard let text = SmallFiles.read(mountinfo, limit: 8 << 20) else { return [] }
        var out: [String] = []
        for line in text.split(separator: "\n") {
            guard let dash = line.range(of: " - ") else { continue }
            let tail = line[dash.upperBound...].split(separator: " ")
            let head = line[..<dash.lowerBound].split(separator: " ")
            // "ID PARENT MAJ:MIN ROOT MOUNTPOINT …": an nsfs mount's root is `net:[INODE]`.
            guard tail.first == "nsfs", head.count >= 5, head[3].hasPrefix("net:[") else { continue }
            out.append(unescape(head[4]))
        }
        return out
    }

    static func unescape(_ s: Substring) -> String {
        var bytes: [UInt8] = []
        var u = Array(s.utf8)[...]
        while let b = u.popFirst() {
            if b == 0x5c, u.count >= 3, let v = UInt8(String(decoding: u.prefix(3), as: UTF8.self), radix: 8) { bytes.append(v); u = u.dropFirst(3) } else { bytes.append(b) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
