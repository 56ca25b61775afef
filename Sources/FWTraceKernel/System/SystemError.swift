import Glibc

/// An errno with the operation that failed, so messages say what fwtrace was doing.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let errno: Int32
    public init(_ operation: String, errno: Int32 = Glibc.errno) { self.operation = operation; self.errno = errno }
    public var description: String { "\(operation): \(reason)" }
    /// strerror's text alone, for messages that say the operation their own way.
    public var reason: String { Self.reason(errno) }
    public static func reason(_ errno: Int32) -> String { String(cString: strerror(errno)) }

    /// A non-blocking call found nothing to do (EAGAIN, EWOULDBLOCK).
    public var wouldBlock: Bool { errno == EAGAIN || errno == EWOULDBLOCK }
    /// The kernel dropped messages for a netlink socket (ENOBUFS).
    public var overrun: Bool { errno == ENOBUFS }
    /// Out of descriptors, process- or system-wide.
    public var outOfDescriptors: Bool { errno == EMFILE || errno == ENFILE }
    /// Permission denied (EACCES, EPERM).
    public var denied: Bool { errno == EACCES || errno == EPERM }
    public var notFound: Bool { errno == ENOENT }
    public var exists: Bool { errno == EEXIST }
    /// The datagram is larger than the socket takes at once (EMSGSIZE, ENOBUFS on a unix socket).
    public var tooLarge: Bool { errno == EMSGSIZE || errno == ENOBUFS }
}

/// The one syscall wrapper: runs `body` (a call that returns -1 and sets errno on failure) again
/// while it is interrupted by a signal (EINTR), and turns any other failure into a SystemError.
/// Every poll, read, recv, send, write, accept and connect in fwtrace goes through it.
@discardableResult
public func systemCall<T: FixedWidthInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result == -1 {
            let code = Glibc.errno
            if code == EINTR { continue }
            throw SystemError(operation(), errno: code)
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
