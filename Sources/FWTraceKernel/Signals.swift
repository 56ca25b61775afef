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

    public static func makeFD() throws -> Int32 {
        var set = sigset_t()
        sigemptyset(&set)
        for s in handled { sigaddset(&set, s) }
        return try retrying("signalfd") { signalfd(-1, &set, fwt_sfd_nonblock | fwt_sfd_cloexec) }
    }

    /// Reads one pending signal number from the signalfd, nil when none.
    public static func read(_ fd: Int32) -> Int32? {
        var info = signalfd_siginfo()
        let n = Glibc.read(fd, &info, MemoryLayout<signalfd_siginfo>.size)
        return n == MemoryLayout<signalfd_siginfo>.size ? Int32(info.ssi_signo) : nil
    }
}
