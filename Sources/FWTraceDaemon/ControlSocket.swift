import Foundation
import Glibc
import FWTraceKernel

/// The control socket's file: made fresh at start (refusing when another daemon answers on it),
/// owned by root and the configured group, with the configured mode.
enum ControlSocket {
    static func listen(path: String, group: UInt32, mode: mode_t) throws -> Int32 {
        let directory = (path as NSString).deletingLastPathComponent
        if access(directory, F_OK) != 0 {
            guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
                throw UserFacingError("cannot create \(directory) for the control socket: \(String(cString: strerror(errno)))", exitCode: ExitCode.unavailable)
            }
        }
        if access(path, F_OK) == 0 {
            let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            defer { close(probe) }
            if connectUnix(probe, path) {
                throw UserFacingError("another fwtrace daemon answers on \(path): stop it first (systemctl stop fwtrace)", exitCode: ExitCode.unavailable)
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        guard unixAddress(path) != nil, !path.hasPrefix("@") else {
            close(fd)
            throw UserFacingError("the control socket path \(path) is too long (at most 107 bytes)", exitCode: ExitCode.usage)
        }
        // Created with no access for anyone, then opened up to exactly the configured mode: no
        // window in which the socket is reachable with umask's permissions.
        let previous = umask(0o777)
        let rc = withUnixAddress(path) { bind(fd, $0, $1) }
        umask(previous)
        guard rc == 0 else {
            let e = errno; close(fd)
            throw UserFacingError("cannot bind the control socket \(path): \(String(cString: strerror(e)))", exitCode: ExitCode.unavailable)
        }
        // Under systemd, Group=fwtrace gives the socket its group already (and chown is filtered
        // there): change it only when it differs.
        var st = stat()
        let groupOK = stat(path, &st) == 0 && st.st_gid == group
        guard groupOK || chown(path, 0, group) == 0, chmod(path, mode) == 0 else {
            let e = errno; close(fd); unlink(path)
            throw UserFacingError("cannot set owner and mode of \(path): \(String(cString: strerror(e)))", exitCode: ExitCode.unavailable)
        }
        guard Glibc.listen(fd, 64) == 0 else { let e = errno; close(fd); unlink(path); throw SystemError("listen", errno: e) }
        return fd
    }
}
