import Glibc
import CNetfilter

/// The network namespace to trace in: an `ip netns` name, a path to a namespace file, or a PID.
public struct NetworkNamespace: Sendable {
    public let spec: String
    public let path: String
    /// What records show as `netns`: the `ip netns` name, or the spec as given.
    public let displayName: String

    /// The `ip netns` name, when the namespace was given as one (its /etc/netns/NAME holds its /etc).
    public var ipNetnsName: String? { path == "/run/netns/\(spec)" ? spec : nil }

    public static func resolve(_ spec: String) throws -> NetworkNamespace {
        let path: String
        if spec.hasPrefix("/") {
            path = spec
        } else if !spec.isEmpty, spec.allSatisfy({ $0.isASCII && $0.isNumber }) {
            path = "/proc/\(spec)/ns/net"
        } else {
            guard !spec.isEmpty, !spec.contains("/"), spec != ".", spec != ".." else {
                throw UserFacingError("invalid namespace '\(spec)': give an `ip netns` name, a /proc/PID/ns/net path or a PID", exitCode: ExitCode.usage)
            }
            path = "/run/netns/\(spec)"
        }
        guard access(path, F_OK) == 0 else {
            let hint = spec.hasPrefix("/") ? "" : (path.hasPrefix("/proc") ? " (no such process?)" : " (see `ip netns list`)")
            throw UserFacingError("network namespace '\(spec)' not found: \(path) does not exist\(hint)", exitCode: ExitCode.unavailable)
        }
        return NetworkNamespace(spec: spec, path: path, displayName: spec)
    }

    /// A namespace found by a scan (NamespaceListing), at a path that opens it.
    public static func at(path: String, displayName: String) -> NetworkNamespace {
        NetworkNamespace(spec: path, path: path, displayName: displayName)
    }

    /// The namespace with this inode among `ip netns` names and the initial one (nil when gone).
    public static func find(inode: UInt64) -> NetworkNamespace? {
        var candidates = ["/proc/1/ns/net"]
        candidates += SmallFiles.names(inDirectory: "/run/netns").map { "/run/netns/\($0)" }
        for path in candidates {
            var st = stat()
            if stat(path, &st) == 0, UInt64(st.st_ino) == inode {
                let name = path.hasPrefix("/run/netns/") ? String(path.dropFirst("/run/netns/".count)) : "(initial)"
                return NetworkNamespace(spec: path, path: path, displayName: name)
            }
        }
        return nil
    }

    /// Moves the calling thread into the namespace. fwtrace does this on its main thread before it
    /// opens any socket: sockets, libnftables and spawned commands then all live in that namespace.
    public func enter() throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw UserFacingError("cannot open network namespace \(path): \(String(cString: strerror(errno)))", exitCode: ExitCode.unavailable) }
        defer { close(fd) }
        guard setns(fd, fwt_clone_newnet) == 0 else {
            let e = errno
            if e == EPERM { throw UserFacingError("cannot enter network namespace \(spec): permission denied (run fwtrace as root)", exitCode: ExitCode.noPrivilege) }
            throw UserFacingError("cannot enter network namespace \(spec): \(String(cString: strerror(e))) (is \(path) a network namespace?)", exitCode: ExitCode.unavailable)
        }
    }
}
