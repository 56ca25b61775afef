import Glibc
import Foundation

public enum Privileges {
    static let capNetAdmin = 12

    /// fwtrace installs rules and reads netfilter's multicast groups: both need CAP_NET_ADMIN.
    /// `purpose` says what the command really needs it for (explain installs nothing).
    public static func requireNetAdmin(command: String, purpose: String = "to install trace rules and read trace events") throws {
        if hasNetAdmin() { return }
        throw notPrivileged(command: command, purpose: purpose)
    }

    /// The one line a command without CAP_NET_ADMIN stops with (exit 4).
    public static func notPrivileged(command: String, purpose: String = "to install trace rules and read trace events", alternative: String? = nil) -> UserFacingError {
        UserFacingError("fwtrace \(command) needs CAP_NET_ADMIN \(purpose): run it as root (sudo fwtrace \(command) …)\(alternative.map { ", \($0)" } ?? "")", exitCode: ExitCode.noPrivilege)
    }

    public static func hasNetAdmin() -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/self/status") else { return geteuid() == 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces)
            guard let bits = UInt64(hex, radix: 16) else { return geteuid() == 0 }
            return bits & (1 << UInt64(capNetAdmin)) != 0
        }
        return geteuid() == 0
    }
}
