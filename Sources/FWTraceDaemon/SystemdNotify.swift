import Foundation
import FWTraceKernel

/// sd_notify without libsystemd: a datagram to $NOTIFY_SOCKET (a path, or @abstract).
public struct SystemdNotify: Sendable {
    let path: String?
    /// Half of WatchdogSec, in seconds, when systemd asked for keep-alives.
    public let watchdogInterval: Double?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let usec = environment["WATCHDOG_USEC"].flatMap(Double.init), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == CurrentProcess.id }) ?? true {
            watchdogInterval = usec / 2_000_000
        } else {
            watchdogInterval = nil
        }
    }

    public func send(_ state: String) {
        guard let path else { return }
        // Best effort, as sd_notify: a service manager that went away is no reason to stop.
        try? DatagramSocket().send(Array(state.utf8), to: path)
    }
}
