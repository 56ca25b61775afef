import Foundation
import FWTraceKernel

/// The client end of the control socket, for `fwtrace follow` and `fwtrace status`.
public final class DaemonClient {
    public static let defaultSocket = "/run/fwtrace/fwtrace.sock"

    /// --socket, else $FWTRACE_SOCKET, else the default.
    public static func socketPath(_ option: String?) -> String {
        option ?? ProcessInfo.processInfo.environment["FWTRACE_SOCKET"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultSocket
    }

    public let connection: FileDescriptor
    public let path: String
    private var buffer: [UInt8] = []
    private var offset = 0

    init(connection: FileDescriptor, path: String) { self.connection = connection; self.path = path }

    /// nil when no daemon answers there (no socket, nobody listening); throws when one answers
    /// but this user may not use it.
    public static func connect(path: String) throws -> DaemonClient? {
        do {
            return DaemonClient(connection: try Socket.connectUnixStream(path), path: path)
        } catch where error.denied {
            let group = FileSystem.status(path).map { PeerCredentials.groupName(of: $0.group) ?? "gid \($0.group)" } ?? "fwtrace"
            throw UserFacingError("permission denied on \(path): only root and members of group \(group) may use the fwtrace daemon; ask an admin to add you (usermod -aG \(group) $USER, then log in again), or run as root with --standalone", exitCode: ExitCode.noPrivilege)
        } catch {
            return nil
        }
    }

    /// Sends the request. When the daemon has already refused the connection (it says why in
    /// an error line, then closes), that refusal is what the user sees.
    public func send(_ request: ControlRequest) throws {
        do { try connection.writeAll(Array((request.line + "\n").utf8)) } catch {
            let reason = error.reason
            if case .line(let line) = nextLine(stopFD: nil), let fields = Self.fields(of: line), fields["type"] as? String == "error" {
                throw UserFacingError(fields["message"] as? String ?? "the daemon refused the connection", exitCode: Self.exitCode(fields["exit"]))
            }
            throw UserFacingError("the fwtrace daemon at \(path) closed the connection (\(reason)); try again, or run as root with --standalone", exitCode: ExitCode.failure)
        }
    }

    public enum Next { case line(String), closed, interrupted }

    /// The next line from the daemon; `.interrupted` when `stopFD` (a signalfd) became readable.
    public func nextLine(stopFD: Int32?) -> Next {
        var set = PollSet()
        set.add(connection)
        if let stopFD { set.add(stopFD) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let newline = buffer[offset...].firstIndex(of: 0x0a) {
                let line = String(decoding: buffer[offset..<newline], as: UTF8.self)
                offset = newline + 1
                if offset > 65536 { buffer.removeFirst(offset); offset = 0 }
                return .line(line)
            }
            guard let ready = try? set.wait(timeout: nil) else { return .closed }
            if ready.count > 1, !ready[1].isEmpty { return .interrupted }
            let connection = self.connection
            guard let n = try? chunk.withUnsafeMutableBytes({ (raw) throws(SystemError) in try connection.receive(into: raw) }), n > 0 else { return .closed }
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
