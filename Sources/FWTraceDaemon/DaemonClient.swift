import Foundation
import Glibc
import FWTraceKernel

/// The client end of the control socket, for `fwtrace follow` and `fwtrace status`.
public final class DaemonClient {
    public static let defaultSocket = "/run/fwtrace/fwtrace.sock"

    /// --socket, else $FWTRACE_SOCKET, else the default.
    public static func socketPath(_ option: String?) -> String {
        option ?? ProcessInfo.processInfo.environment["FWTRACE_SOCKET"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultSocket
    }

    public let fd: Int32
    public let path: String
    private var buffer: [UInt8] = []
    private var offset = 0

    init(fd: Int32, path: String) { self.fd = fd; self.path = path }
    deinit { close(fd) }

    /// nil when no daemon answers there (no socket, nobody listening); throws when one answers
    /// but this user may not use it.
    public static func connect(path: String) throws -> DaemonClient? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        if connectUnix(fd, path) { return DaemonClient(fd: fd, path: path) }
        let e = errno
        close(fd)
        if e == EACCES || e == EPERM {
            var st = stat()
            let group = stat(path, &st) == 0 ? (getgrgid(st.st_gid).flatMap { $0.pointee.gr_name.map { String(cString: $0) } } ?? "gid \(st.st_gid)") : "fwtrace"
            throw UserFacingError("permission denied on \(path): only root and members of group \(group) may use the fwtrace daemon; ask an admin to add you (usermod -aG \(group) $USER, then log in again), or run as root with --standalone", exitCode: ExitCode.noPrivilege)
        }
        return nil
    }

    /// Sends the request. When the daemon has already refused the connection (it says why in
    /// an error line, then closes), that refusal is what the user sees.
    public func send(_ request: ControlRequest) throws {
        guard writeAll(fd, Array((request.line + "\n").utf8)) else {
            let reason = String(cString: strerror(errno))
            if case .line(let line) = nextLine(stopFD: nil), let fields = Self.fields(of: line), fields["type"] as? String == "error" {
                throw UserFacingError(fields["message"] as? String ?? "the daemon refused the connection", exitCode: Self.exitCode(fields["exit"]))
            }
            throw UserFacingError("the fwtrace daemon at \(path) closed the connection (\(reason)); try again, or run as root with --standalone", exitCode: ExitCode.failure)
        }
    }

    public enum Next { case line(String), closed, interrupted }

    /// The next line from the daemon; `.interrupted` when `stopFD` (a signalfd) became readable.
    public func nextLine(stopFD: Int32?) -> Next {
        while true {
            if let newline = buffer[offset...].firstIndex(of: 0x0a) {
                let line = String(decoding: buffer[offset..<newline], as: UTF8.self)
                offset = newline + 1
                if offset > 65536 { buffer.removeFirst(offset); offset = 0 }
                return .line(line)
            }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            if let stopFD { fds.append(pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 { if errno == EINTR { continue }; return .closed }
            if fds.count > 1, fds[1].revents != 0 { return .interrupted }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return .closed }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// The `type` of a line and its fields (lines from the daemon are untrusted too).
    public static func fields(of line: String) -> [String: Any]? {
        guard let data = line.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) else { return nil }
        return object as? [String: Any]
    }

    /// An exit code the daemon sent, kept within fwtrace's documented codes.
    public static func exitCode(_ value: Any?) -> Int32 {
        guard let n = value as? Int, (0...Int(ExitCode.daemonStopped)).contains(n) else { return ExitCode.failure }
        return Int32(n)
    }
}
