import Glibc

/// An errno with the operation that failed, so messages say what fwtrace was doing.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let errno: Int32
    public init(_ operation: String, errno: Int32 = Glibc.errno) { self.operation = operation; self.errno = errno }
    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

/// Runs a syscall-like call, retrying EINTR, turning -1 into a SystemError.
@discardableResult
func retrying<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result == -1 {
            if errno == EINTR { continue }
            throw SystemError(operation())
        }
        return result
    }
}

/// A failure the user can act on: one line of what is wrong and what to do, and the exit code.
public struct UserFacingError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let exitCode: Int32
    public init(_ message: String, exitCode: Int32) { self.message = message; self.exitCode = exitCode }
    public var description: String { message }
}

/// Exit codes scripts can rely on; documented in `--help` and README.
public enum ExitCode {
    public static let success: Int32 = 0
    public static let failure: Int32 = 1
    public static let usage: Int32 = 2
    public static let noMatch: Int32 = 3
    public static let noPrivilege: Int32 = 4
    public static let unavailable: Int32 = 5
    /// `follow` through the daemon: the daemon stopped (or went away) before the session ended.
    public static let daemonStopped: Int32 = 6
}
