import Glibc
import FWTraceCore

/// The legacy backend's I/O (iptables-legacy TRACE through nfnetlink_log, by libnetfilter_log).
/// Same records and the same receive path as the nft backend (BackloggedReceive: a receive
/// thread, a backlog in memory, the kernel's drops counted exactly). Order on the way in: sweep
/// what a crashed session left, bind the logger (remembering the old binding), install the TRACE
/// rules; on the way out, the reverse.
final class LegacyBackend: TraceBackend {
    let options: TraceSessionOptions
    private let installer: LegacyInstaller
    /// The logger socket; set once the logger is bound, and then the old binding (and
    /// conntrack's invalid-packet logging) is restored by `remove`.
    private var socket: NflogSocket?
    private var backlog: BackloggedReceive?
    private var previous: [UInt8: String] = [:]
    private var invalidLogBefore: String?
    private var lastPeriodicReload = 0.0

    init(options: TraceSessionOptions) {
        self.options = options
        installer = LegacyInstaller(session: options.session)
    }

    func readRuleset() -> Ruleset {
        let v4 = (try? ProcessRunner.run(["iptables-legacy-save", "-c"]))?.stdout ?? ""
        let v6 = ProcessRunner.find("ip6tables-legacy-save") == nil ? "" : ((try? ProcessRunner.run(["ip6tables-legacy-save", "-c"]))?.stdout ?? "")
        // The managers' own state with each read: their rule numbers follow its changes.
        return Ruleset.parse(iptablesSave: v4, ip6tablesSave: v6).withOwners(ToolStateReader.read(namespace: options.namespaceName))
    }

    func install(notice: (String) -> Void) throws -> TraceBackendSetup {
        let families = options.filter.families
        try LegacyInstaller.requireTools(families)

        for line in LegacyInstaller.sweepOrphans() { notice("removed a TRACE rule left by an earlier fwtrace that did not exit cleanly: \(line)") }
        for line in LegacyBindingState.recoverOrphan() { notice("repaired the logger binding an earlier fwtrace left: \(line)") }
        if let owner = LegacyBindingState.liveOwner() {
            throw UserFacingError("nfnetlink_log group 0 is already bound in this namespace by another fwtrace legacy session (pid \(owner)\(owner == getpid() ? ", this daemon" : "")): it has one reader; stop that session or use --backend nft", exitCode: ExitCode.unavailable)
        }
        try bindLogger(families)
        try installer.install(filters: options.filters, limit: options.limit)

        var config = LegacyPathAssembler.Configuration()
        config.quietPeriod = options.quietPeriod
        let info = RecordEncoder.SessionInfo(
            filter: options.filter.summary, families: families.map(\.rawValue).sorted(),
            rules: installer.descriptions, limit: options.limit.map { $0.iptables.joined(separator: " ") }, table: "raw")
        return TraceBackendSetup(info: info, pipeline: .legacy(config, conntrackInvalid: options.conntrackInvalid, decoder: socket!.library),
                                 ruleset: readRuleset(), interfaces: InterfaceNames())
    }

    /// Binds nfnetlink_log group 0 for the families traced, the old binding written down first.
    private func bindLogger(_ families: Set<PacketSummary.Family>) throws {
        let pfs = families.map { $0 == .ip ? UInt8(2) : UInt8(10) }.sorted()
        var previous: [UInt8: String] = [:]
        for pf in pfs { previous[pf] = LoggerBinding.current(pf) ?? "NONE" }
        // The old binding (and conntrack's invalid-packet logging, which goes to the same logger
        // and is switched on for the session only) is written down before anything changes, so a
        // kill -9 at any point leaves a record to restore from.
        let invalidLogBefore = options.conntrackInvalid ? ConntrackInvalidLog.current() : nil
        LegacyBindingState.save(previous: previous, conntrackLogInvalid: invalidLogBefore)
        do {
            socket = try NflogSocket(families: pfs, receiveBuffer: options.receiveBuffer)
        } catch {
            // Nothing was bound (the group was claimed first): the record is not needed.
            LegacyBindingState.clear()
            throw error
        }
        self.previous = previous
        self.invalidLogBefore = invalidLogBefore
        if options.conntrackInvalid { ConntrackInvalidLog.set("255") }
    }

    func startReceiving(_ loop: SessionLoop) throws -> [Int32] {
        guard let socket else { preconditionFailure("startReceiving before install") }
        lastPeriodicReload = loop.started
        let backlog = try BackloggedReceive(socket: socket.socket, backlogBytes: options.receiveBacklog,
                                            messageType: NflogMessage.netlinkType, what: "TRACE messages")
        self.backlog = backlog
        return [backlog.readyFD]
    }

    func receive(_ ready: [PollSet.Events], loop: SessionLoop) throws -> ReceiveTurn {
        guard !ready[0].isEmpty, let backlog else { return .received(clock: nil) }
        try backlog.turn(loop)
        return backlog.done ? .countReached : .received(clock: backlog.processedUpTo)
    }

    /// iptables-legacy has no change notification: the ruleset is read again at most once a
    /// second while packets are traced, so positions and text follow edits.
    func endTurn(_ loop: SessionLoop) {
        guard loop.summary.events > 0, SystemClock.monotonic() - lastPeriodicReload >= 1 else { return }
        lastPeriodicReload = SystemClock.monotonic()
        loop.pipeline.replaceRuleset(readRuleset())
    }

    func reloadRuleset(_ current: Ruleset) -> Ruleset { readRuleset() }

    func stopReceiving(_ loop: SessionLoop) throws -> TraceBackendStop {
        // As on nft: the kernel's drops and the traced packets are counted at the stop, then
        // what was read is worked off.
        let dropsAtStop = backlog?.stop()
        let tracedAtStop = installer.tracedPackets()
        if !loop.reachedCount { try backlog?.drain(loop) }
        return TraceBackendStop(kernelDrops: dropsAtStop, tracedPackets: { tracedAtStop })
    }

    func remove() {
        backlog?.close(); backlog = nil
        installer.remove()
        guard let socket else { return }
        socket.close()
        for (pf, value) in previous { LoggerBinding.restore(pf, to: value) }
        if let invalidLogBefore { ConntrackInvalidLog.set(invalidLogBefore) }
        LegacyBindingState.clear()
        self.socket = nil
    }
}
