import Foundation
import FWTraceCore

/// The nft backend's I/O: installs the trace table, receives trace events on a thread of its own
/// (BackloggedReceive) and hands them to the loop, reloads the rules when the pipeline says so or the
/// ruleset changes, and removes everything when the session ends.
final class NftBackend: TraceBackend {
    let options: TraceSessionOptions
    init(options: TraceSessionOptions) { self.options = options }

    // What `install` set up, in that order; `remove` undoes it in reverse.
    private var context: NftablesContext?
    private var traceSocket: NetlinkGroupSocket?
    private var installer: NftTraceInstaller?
    private var changes: NetlinkGroupSocket?
    private var reader: RulesetReader?
    private var backlog: BackloggedReceive?
    private let interfaces = InterfaceNames()

    /// When the ruleset changed (a message on `changes`): the rules are reloaded for events
    /// received from then on; older ones still waiting in the backlog keep the old rules.
    private var rulesStaleSince: Double?

    func install(notice: (String) -> Void) throws -> TraceBackendSetup {
        let context = try NftablesContext()
        self.context = context
        // Listen before installing, so the first traced packet is not missed.
        let traceSocket = try NetlinkGroupSocket.traceEvents(receiveBuffer: options.receiveBuffer)
        self.traceSocket = traceSocket
        let installer = NftTraceInstaller(session: options.session, context: context)
        try installer.install(filters: options.filters, limit: options.limit, session: options.session)
        self.installer = installer
        changes = try NetlinkGroupSocket.rulesetChanges()
        let reader = RulesetReader(context: context)
        reader.namespaceName = options.namespaceName
        self.reader = reader
        let ruleset = reader.loadWithJSON().withOwners(reader.tools())
        var config = PathAssembler.Configuration(ownTable: installer.tableName, ownChains: installer.chains)
        config.quietPeriod = options.quietPeriod
        config.filterProtocol = options.filter.proto?.number
        config.bridgeCallsIPChains = Self.bridgeCallsIPChains()
        let info = RecordEncoder.SessionInfo(
            filter: options.filter.summary, families: options.filter.families.map(\.rawValue).sorted(),
            rules: installer.installedRules, limit: options.limit?.nft, table: "inet \(installer.tableName)")
        return TraceBackendSetup(info: info, pipeline: .nft(config), ruleset: ruleset, interfaces: interfaces)
    }

    func startReceiving(_ loop: SessionLoop) throws -> [Int32] {
        guard let traceSocket, let changes else { preconditionFailure("startReceiving before install") }
        // A thread of its own reads the kernel's queue into memory, ahead of this one.
        let backlog = try BackloggedReceive(socket: traceSocket, backlogBytes: options.receiveBacklog,
                                            messageType: NftTraceDecoder.messageType, what: "trace events")
        self.backlog = backlog
        return [backlog.readyFD, changes.fd]
    }

    func receive(_ ready: [PollSet.Events], loop: SessionLoop) throws -> ReceiveTurn {
        if !ready[1].isEmpty, let changes {
            // A change, or an overrun that may have hidden one: the rules are stale either way.
            drain: while true {
                switch try changes.receive() {
                case .datagram, .overrun: rulesStaleSince = rulesStaleSince ?? SystemClock.now()
                case .wouldBlock: break drain
                }
            }
        }
        guard !ready[0].isEmpty, let backlog else { return .received(clock: nil) }
        try backlog.turn(loop) { reloadIfChanged(before: $0, loop: loop) }
        return backlog.done ? .countReached : .received(clock: backlog.processedUpTo)
    }

    /// A rule the ruleset lacks: the text listing again; the rules' JSON expressions are kept
    /// from the old one until the ruleset's change notification reloads them.
    func reloadRuleset(_ current: Ruleset) -> Ruleset {
        interfaces.invalidate()
        guard let reader else { return current }
        var fresh = reader.load()
        fresh.keepExpressions(from: current)
        return fresh.withOwners(reader.tools())
    }

    func stopReceiving(_ loop: SessionLoop) throws -> TraceBackendStop {
        // The kernel's drop count is taken now: the trace rules stay installed while the backlog
        // is worked off, and what the kernel drops meanwhile (nobody reads the socket any more)
        // is not the session's loss.
        let dropsAtStop = backlog?.stop()
        // And the packets traced until now, for the same reason (unrecorded-packets).
        let tracedAtStop = installer?.tracedPackets()
        if !loop.reachedCount { try backlog?.drain(loop) { reloadIfChanged(before: $0, loop: loop) } }
        return TraceBackendStop(kernelDrops: dropsAtStop, tracedPackets: { tracedAtStop })
    }

    func remove() {
        backlog?.close(); backlog = nil
        changes?.close(); changes = nil
        installer?.remove(); installer = nil
        traceSocket?.close(); traceSocket = nil
        context?.close(); context = nil
    }

    /// Which families' chains br_netfilter hands bridged frames to in this namespace (its sysctls,
    /// read by this thread, which is in the traced namespace; none without br_netfilter).
    static func bridgeCallsIPChains() -> Set<PacketSummary.Family> {
        var families: Set<PacketSummary.Family> = []
        for (family, name) in [(PacketSummary.Family.ip, "iptables"), (.ip6, "ip6tables")] {
            let value = try? String(contentsOfFile: "/proc/sys/net/bridge/bridge-nf-call-\(name)", encoding: .utf8)
            if value?.trimmingCharacters(in: .whitespacesAndNewlines) == "1" { families.insert(family) }
        }
        return families
    }

    /// The ruleset changed before the datagram received at `time`: the rules are read again
    /// (text listing and JSON) before it is fed.
    private func reloadIfChanged(before time: Double, loop: SessionLoop) {
        guard let since = rulesStaleSince, time >= since, let reader else { return }
        var fresh = reader.load()
        if let json = reader.loadJSON() { fresh.addNftJSON(json) } else { fresh.keepExpressions(from: loop.pipeline.ruleset) }
        loop.pipeline.replaceRuleset(fresh)
        interfaces.invalidate()
        rulesStaleSince = nil
    }
}
