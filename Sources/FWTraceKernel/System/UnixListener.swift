import Glibc
import CNetfilter

/// A listening unix stream socket at a path: made fresh (refusing when someone answers on the
/// path already), owned by root and `group` with exactly `mode`, removed by `close()`.
public final class UnixListener: @unchecked Sendable {
    public enum Failure: Error, Sendable {
        /// Its directory is missing and cannot be made.
        case directory(String, SystemError)
        /// Another process accepts connections on the path.
        case inUse
        /// The path does not fit in a sockaddr_un (or names an abstract socket).
        case tooLong
        case bind(SystemError)
        case ownership(SystemError)
        case listen(SystemError)
    }

    public let path: String
    public let descriptor: FileDescriptor

    public init(path: String, group: UInt32, mode: mode_t, backlog: Int32 = 64) throws(Failure) {
        self.path = path
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !directory.isEmpty, !FileSystem.exists(directory) {
            do { try FileSystem.makeDirectory(directory, mode: 0o755) } catch where !error.exists { throw .directory(directory, error) } catch {}
        }
        if FileSystem.exists(path) {
            if (try? Socket.connectUnixStream(path)) != nil { throw .inUse }
            FileSystem.remove(path)
        }
        guard let address = UnixAddress(path), !path.hasPrefix("@") else { throw .tooLong }
        do { descriptor = try Socket.make(AF_UNIX, Int32(SOCK_STREAM.rawValue)) } catch { throw .bind(error) }
        // Created with no access for anyone, then opened up to exactly the configured mode: no
        // window in which the socket is reachable with umask's permissions.
        let previous = umask(0o777)
        defer { umask(previous) }
        let fd = descriptor.rawValue
        do {
            try address.withSockaddr { (raw, length) throws(SystemError) in _ = try systemCall("bind \(path)") { bind(fd, raw, length) } }
        } catch { throw .bind(error) }
        // Under systemd, Group=fwtrace gives the socket its group already (and chown is filtered
        // there): change it only when it differs.
        do {
            if FileSystem.status(path)?.group != group { try systemCall("chown") { chown(path, 0, group) } }
            try systemCall("chmod") { chmod(path, mode) }
        } catch { FileSystem.remove(path); throw .ownership(error) }
        do { try systemCall("listen") { Glibc.listen(fd, backlog) } } catch { FileSystem.remove(path); throw .listen(error) }
    }

    /// The next connection, nil when none is pending (the socket is polled first, so that means
    /// the client went away in between) or when out of descriptors (error says so).
    public func accept() throws(SystemError) -> FileDescriptor? { try Socket.accept(on: descriptor) }

    /// Stops listening and removes the path.
    public func close() {
        descriptor.close()
        FileSystem.remove(path)
    }
}

/// The few file system calls the daemon makes on paths.
public enum FileSystem {
    public struct Status: Sendable {
        public let owner: UInt32, group: UInt32, mode: mode_t
        public var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
    }

    public static func status(_ path: String) -> Status? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Status(owner: st.st_uid, group: st.st_gid, mode: st.st_mode)
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Whether this process may write to `path` (access(2) W_OK; a directory also needs X_OK
    /// to create a file in it), or why not.
    public static func writable(_ path: String, directory: Bool = false) -> SystemError? {
        access(path, directory ? W_OK | X_OK : W_OK) == 0 ? nil : SystemError("access \(path)")
    }

    public static func makeDirectory(_ path: String, mode: mode_t) throws(SystemError) {
        try systemCall("mkdir \(path)") { mkdir(path, mode) }
    }

    public static func remove(_ path: String) { unlink(path) }
}
