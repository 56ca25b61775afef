import Foundation
import FWTraceKernel

/// The daemon's log: stderr, one bounded and escaped line per message.
extension Daemon {
    /// Logs to stderr: plain lines, with the priority prefixes sd-daemon(3) describes only when
    /// stderr is the journal. Messages carry what clients sent, so each is escaped and bounded
    /// here: one call, one line.
    public static func log(_ message: String, priority: Int = 6) {
        guard priority <= logThreshold.current else { return }
        let message = logSafe(message)
        CurrentProcess.writeToStandardError(stderrIsJournal ? "<\(priority)>fwtrace: \(message)\n" : "fwtrace: \(message)\n")
    }

    /// stderr is connected to the journal: systemd sets JOURNAL_STREAM to its device and inode
    /// ("dev:ino", systemd.exec(5)); a stderr redirected elsewhere (a file, a pipe, a terminal,
    /// or a child of the service) has other numbers, and gets no `<N>` prefixes.
    static let stderrIsJournal: Bool = {
        guard let value = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]),
              let stderr = CurrentProcess.standardErrorIdentity() else { return false }
        return stderr.device == device && stderr.inode == inode
    }()

    /// The least urgent priority logged (syslog numbers, 7 debug … 3 error): log_level or
    /// --log-level; info by default.
    static let logThreshold = Locked(DaemonConfig.LogLevel.info.priority)

    /// Longest message logged, in bytes: far below journald's LineMax (48K), past which one
    /// line would become several entries.
    static let maxLogMessage = 4096

    /// Control characters (C0, DEL, C1: newlines, CR, ESC, NUL), line and paragraph separators
    /// and bidi overrides as visible escapes, so no message can start a line of its own, carry a
    /// priority prefix or rewrite a terminal; cut at maxLogMessage bytes.
    static func logSafe(_ message: String) -> String {
        if message.utf8.count <= maxLogMessage, message.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) { return message }
        var out = ""
        var bytes = 0
        for scalar in message.unicodeScalars {
            let v = scalar.value
            let piece: String
            switch v {
            case 0x0a: piece = "\\n"
            case 0x0d: piece = "\\r"
            case 0x09: piece = "\\t"
            case 0..<0x20, 0x7f: piece = "\\x" + (v < 0x10 ? "0" : "") + String(v, radix: 16)
            case 0x80..<0xa0, 0x2028, 0x2029, 0x200e, 0x200f, 0x202a...0x202e, 0x2066...0x2069: piece = "\\u{" + String(v, radix: 16) + "}"
            default: piece = String(scalar)
            }
            if bytes + piece.utf8.count > maxLogMessage {
                return out + "… (cut from \(message.utf8.count) bytes)"
            }
            out += piece
            bytes += piece.utf8.count
        }
        return out
    }
}
