/// Which container a process belongs to, from its /proc/PID/cgroup: the container runtimes name
/// the cgroup after the container's id. Podman: `libpod-<id>` (cgroupfs manager, under
/// libpod_parent) or `libpod-<id>.scope` (systemd manager, in machine.slice); Docker:
/// `docker-<id>.scope` (systemd driver) or `/docker/<id>` (cgroupfs); containerd (CRI):
/// `cri-containerd-<id>.scope`; CRI-O: `crio-<id>.scope`. A Kubernetes pod's containers sit under
/// `kubepods…`, which names the runtime's cgroup the same way. Podman's cgroupfs form is from a
/// real podman 4.3.1 container (ContainerCgroupTests); the others follow the runtimes' naming.
public struct ContainerCgroup: Equatable, Sendable {
    public enum Runtime: String, Sendable { case podman, docker, containerd, crio }
    public var runtime: Runtime
    /// The full id (64 hex digits).
    public var id: String

    /// The container of the first cgroup line that names one; nil for a process in none.
    public init?(cgroup text: String) {
        for line in text.split(separator: "\n") {
            // "hierarchy-ID:controllers:path"; the path is the third field (it may hold ':').
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            for component in fields[2].split(separator: "/").reversed() {
                if let found = Self.match(component) { self = found; return }
            }
        }
        return nil
    }

    static let prefixes: [(String, Runtime)] = [("libpod-", .podman), ("docker-", .docker), ("cri-containerd-", .containerd), ("crio-", .crio)]

    /// One path component: `<prefix><id>[.scope]`, or a bare id under a `docker` parent (cgroupfs).
    static func match(_ component: Substring) -> ContainerCgroup? {
        var name = component
        if name.hasSuffix(".scope") { name = name.dropLast(6) }
        for (prefix, runtime) in prefixes where name.hasPrefix(prefix) {
            let id = name.dropFirst(prefix.count)
            // libpod-conmon-<id>.scope is podman's monitor, not the container.
            guard isID(id) else { continue }
            return ContainerCgroup(runtime: runtime, id: String(id))
        }
        return nil
    }

    init(runtime: Runtime, id: String) { self.runtime = runtime; self.id = id }

    static func isID(_ s: Substring) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
