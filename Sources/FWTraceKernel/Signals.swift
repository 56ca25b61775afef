import Glibc
import CNetfilter

/// SIGINT, SIGTERM and SIGHUP delivered through a signalfd, so the main loop sees them as
/// readable data and cleans up in order. Blocked first thing in main, before any thread
/// exists, so that every later thread inherits the mask.
public enum Signals {
    public static let handled: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    public static func blockForProcess() {
        var set = sigset_t()
        sigemptyset(&set)
        for s in handled { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// A signalfd the caller closes (the sessions' stop descriptor when no daemon gives one).
    public static func makeFD() throws(SystemError) -> Int32 {
        var set = sigset_t()
        sigemptyset(&set)
        for s in handled { sigaddset(&set, s) }
        return try systemCall("signalfd") { signalfd(-1, &set, fwt_sfd_nonblock | fwt_sfd_cloexec) }
    }

    /// Reads one pending signal number from the signalfd, nil when none.
    public static func read(_ fd: Int32) -> Int32? {
        var info = signalfd_siginfo()
        let size = MemoryLayout<signalfd_siginfo>.size
        let n = try? systemCall("read signalfd") { Glibc.read(fd, &info, size) }
        return n == size ? Int32(info.ssi_signo) : nil
    }
}

/// The handled signals as a descriptor of one's own (the daemon's main loop).
public final class SignalDescriptor: @unchecked Sendable {
    public enum Signal: Sendable { case hangup, terminate, interrupt }
    public let descriptor: FileDescriptor

    public init() throws(SystemError) { descriptor = FileDescriptor(adopting: try Signals.makeFD()) }

    /// The next pending signal, nil when none.
    public func next() -> Signal? {
        switch Signals.read(descriptor.rawValue) {
        case SIGHUP: return .hangup
        case SIGTERM: return .terminate
        case SIGINT: return .interrupt
        default: return nil
        }
    }
}
