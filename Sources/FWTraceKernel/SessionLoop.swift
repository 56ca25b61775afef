import Glibc
import FWTraceCore

/// What every backend's session does the same way: wait on its event socket and on signals within
/// the session's timeout and the assembler's quiet period, deliver paths (with hints) against
/// --count, and turn a receive-queue overflow into a loss record with the kernel's count.
final class SessionLoop {
    enum Wake { case stop, ready([Int16]) }

    let options: NftTraceSession.Options
    let emit: (NftTraceSession.Record) -> Void
    var hints: HintContext
    var summary = NftTraceSession.Summary()
    let started = NftTraceSession.now()
    private let stopFD: Int32
    private let ownsSignalFD: Bool

    /// Stops on SIGINT/SIGTERM/SIGHUP through a signalfd of its own, or, when the options name a
    /// stop descriptor (the daemon's sessions: an eventfd), when that becomes readable. A daemon
    /// must not read process signals from a session thread: one signalfd would steal them.
    init(options: NftTraceSession.Options, hints: HintContext, emit: @escaping (NftTraceSession.Record) -> Void) throws {
        self.options = options
        if let stop = options.stopFD {
            stopFD = stop; ownsSignalFD = false
        } else {
            stopFD = try Signals.makeFD(); ownsSignalFD = true
        }
        self.hints = hints
        self.emit = emit
    }

    deinit { if ownsSignalFD { close(stopFD) } }

    /// Waits until one of `fds` is readable or the quiet period is due; `.stop` on a signal or the
    /// timeout (recorded in the summary). `pending` says whether paths await their quiet period.
    func wait(on fds: [Int32], pending: Bool) throws -> Wake {
        options.beforeWait?()
        let now = NftTraceSession.now()
        if let timeout = options.timeout, now - started >= timeout { summary.reason = .timeout; return .stop }
        var wait = pending ? options.quietPeriod / 2 : 0.5
        if let timeout = options.timeout { wait = min(wait, max(0, timeout - (now - started))) }
        var polled = (fds + [stopFD]).map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        if poll(&polled, nfds_t(polled.count), pollTimeout(wait)) < 0 && errno != EINTR { throw SystemError("poll") }
        if polled.last!.revents != 0 {
            if !ownsSignalFD { summary.reason = .stopped; return .stop }
            if Signals.read(stopFD) != nil { summary.reason = .signal; return .stop }
        }
        return .ready(polled.dropLast().map(\.revents))
    }

    /// Emits the paths `keep` accepts, with hints; true once --count paths were delivered.
    func deliver(_ paths: [PacketPath], keep: (PacketPath) -> Bool) -> Bool {
        for var path in paths where keep(path) {
            path.hints = HintEngine.hints(for: path, context: hints)
            emit(.path(path))
            summary.paths += 1
            if let count = options.count, summary.paths >= count { summary.reason = .count; return true }
        }
        return false
    }

    /// ENOBUFS: the kernel's exact count from /proc/net/netlink, never a silent gap.
    func reportOverrun(drops: UInt64?, what: String) {
        summary.lost += drops ?? 0
        emit(.loss(count: drops ?? 0, reason: "enobufs",
                   detail: drops.map { "the kernel dropped \($0) \(what): the receive queue overflowed; trace fewer packets (a narrower filter or a lower --limit)" }
                       ?? "the kernel dropped \(what) (the receive queue overflowed); their number could not be read from /proc/net/netlink"))
    }

    /// At the end of a session that lost events: the packets the trace rules counted of which
    /// not one event arrived (no path stands for them). Not after --count, which stops reading
    /// while the rules still count.
    func reportUnrecordedPackets(traced: UInt64?, started: Int) {
        guard summary.lost > 0, summary.reason != .count, let traced, traced > UInt64(started) else { return }
        let unrecorded = traced - UInt64(started)
        emit(.loss(count: unrecorded, reason: "unrecorded-packets",
                   detail: "fwtrace's trace rules counted \(traced) packets; \(started) became paths, and of the other \(unrecorded) not one event was received"))
    }

    func reportUndecodable(_ detail: String) {
        emit(.loss(count: 1, reason: "decode-error", detail: detail))
    }
}
