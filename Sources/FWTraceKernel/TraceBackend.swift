import FWTraceCore

/// One backend's I/O for a trace session, and nothing else: it installs the trace rules (and
/// whatever it binds to receive their events), receives datagrams and hands each to the loop,
/// reads the rules again when the pipeline says they are stale, and removes everything it set
/// up. `TraceSession` drives either backend through this; the waiting, feeding, capture, count,
/// timeout, signal and stop handling and the closing records live there once.
protocol TraceBackend: AnyObject {
    /// Installs the trace rules and opens what receives their events, giving `notice` what the
    /// admin should know (a repaired leftover); what the session starts with. What it set up
    /// before failing, `remove` undoes.
    func install(notice: (String) -> Void) throws -> TraceBackendSetup
    /// Starts receiving; the descriptors the loop waits on from then on (their readiness comes
    /// back to `receive` in this order).
    func startReceiving(_ loop: SessionLoop) throws -> [Int32]
    /// One turn: reads what `ready` says is there and hands each datagram to `loop.deliver`.
    func receive(_ ready: [PollSet.Events], loop: SessionLoop) throws -> ReceiveTurn
    /// After each turn that did not end the session (the quiet paths emitted).
    func endTurn(_ loop: SessionLoop)
    /// The rules again, when the pipeline met a rule or chain its ruleset lacks.
    func reloadRuleset(_ current: Ruleset) -> Ruleset
    /// Stops receiving at the end (signal, timeout, stop, --count) and works off what was read
    /// unless --count was reached; what the kernel counted at that moment.
    func stopReceiving(_ loop: SessionLoop) throws -> TraceBackendStop
    /// Removes the trace rules and closes and restores what `install` set up, whatever exit the
    /// session took; a second call does nothing.
    func remove()
}

extension TraceBackend {
    func endTurn(_ loop: SessionLoop) {}
}

/// What a backend's `install` gives the session: its `started` record, the pipeline's backend
/// configuration and the rules it starts with.
struct TraceBackendSetup {
    var info: RecordEncoder.SessionInfo
    var pipeline: TracePipeline.Backend
    var ruleset: Ruleset
    /// Interface names by index; the backend empties its cache when it reloads the rules.
    var interfaces: InterfaceNames
}

/// What a backend counted when it stopped receiving, for the closing loss records.
struct TraceBackendStop {
    /// The kernel's drops not yet reported (nil: the backend has no such count at the end).
    var kernelDrops: UInt64?
    /// Packets the trace rules marked, read only when the session lost events.
    var tracedPackets: () -> UInt64?
}

/// What a turn of receiving came to.
enum ReceiveTurn {
    /// --count paths were delivered: the session ends.
    case countReached
    /// Paths quiet by `clock` are emitted: the receive time of the newest datagram processed
    /// while a backlog is worked off, nil for the wall clock now.
    case received(clock: Double?)
}

extension BackendDetection.Choice {
    /// The backend that runs a session of this kind.
    func backend(_ options: TraceSessionOptions) -> TraceBackend {
        switch self {
        case .nft: return NftBackend(options: options)
        case .legacy: return LegacyBackend(options: options)
        }
    }
}

/// Which backend a namespace's firewall uses, for `--backend auto`.
public enum BackendDetection {
    public enum Choice: String, Sendable { case nft, legacy }

    /// nft when nf_tables holds rules (nft or iptables-nft), legacy when only iptables-legacy
    /// does; both holding rules is refused so that nobody traces half of a firewall unknowingly.
    public static func detect() throws -> Choice {
        var legacyRules = false
        for program in ["iptables-legacy-save", "ip6tables-legacy-save"] where ProcessRunner.find(program) != nil {
            if let out = try? ProcessRunner.run([program]), Ruleset.hasUserRules(out.stdout) { legacyRules = true }
        }
        guard legacyRules else { return .nft }
        var nftRules = false
        if let context = try? NftablesContext() {
            let listing = context.run("list ruleset").output
            nftRules = listing.split(separator: "\n").contains { $0.hasPrefix("table ") && !$0.contains(" fwtrace") }
            context.close()
        }
        if nftRules {
            throw UserFacingError("this namespace has both iptables-legacy rules and nf_tables rules (nft or iptables-nft): packets traverse both, and one backend sees only its own; choose with --backend legacy or --backend nft", exitCode: ExitCode.usage)
        }
        return .legacy
    }
}
