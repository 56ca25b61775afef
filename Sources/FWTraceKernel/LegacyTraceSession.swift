import Glibc
import FWTraceCore

/// One `follow` on the legacy backend (iptables-legacy TRACE through nfnetlink_log). Same records
/// as the nft backend. Order on the way in: sweep what a crashed session left, bind the logger
/// (remembering the old binding), install the TRACE rules; on the way out, the reverse.
public final class LegacyTraceSession {
    let options: TraceSessionOptions
    public init(options: TraceSessionOptions) { self.options = options }

    func readRuleset() -> LegacyRuleset {
        let v4 = (try? ProcessRunner.run(["iptables-legacy-save", "-c"]))?.stdout ?? ""
        let v6 = ProcessRunner.find("ip6tables-legacy-save") == nil ? "" : ((try? ProcessRunner.run(["ip6tables-legacy-save", "-c"]))?.stdout ?? "")
        return LegacyRuleset.parse(ipv4: v4, ipv6: v6)
    }

    public func run(emit: @escaping (TraceRecord) -> Void, notice: (String) -> Void) throws -> TraceSummary {
        let families = options.filter.families
        try LegacyInstaller.requireTools(families)

        for line in LegacyInstaller.sweepOrphans() { notice("removed a TRACE rule left by an earlier fwtrace that did not exit cleanly: \(line)") }
        for line in LegacyBindingState.recoverOrphan() { notice("repaired the logger binding an earlier fwtrace left: \(line)") }
        if let owner = LegacyBindingState.liveOwner() {
            throw UserFacingError("nfnetlink_log group 0 is already bound in this namespace by another fwtrace legacy session (pid \(owner)\(owner == getpid() ? ", this daemon" : "")): it has one reader; stop that session or use --backend nft", exitCode: ExitCode.unavailable)
        }

        let pfs = families.map { $0 == .ip ? UInt8(2) : UInt8(10) }.sorted()
        var previous: [UInt8: String] = [:]
        for pf in pfs { previous[pf] = LoggerBinding.current(pf) ?? "NONE" }
        // The old binding (and conntrack's invalid-packet logging, which goes to the same logger
        // and is switched on for the session only) is written down before anything changes, so a
        // kill -9 at any point leaves a record to restore from.
        let invalidLogBefore = options.conntrackInvalid ? ConntrackInvalidLog.current() : nil
        LegacyBindingState.save(previous: previous, conntrackLogInvalid: invalidLogBefore)
        let socket: NflogSocket
        do {
            socket = try NflogSocket(families: pfs, receiveBuffer: options.receiveBuffer)
        } catch {
            // Nothing was bound (the group was claimed first): the record is not needed.
            LegacyBindingState.clear()
            throw error
        }
        if options.conntrackInvalid { ConntrackInvalidLog.set("255") }
        defer {
            socket.close()
            for (pf, value) in previous { LoggerBinding.restore(pf, to: value) }
            if let invalidLogBefore { ConntrackInvalidLog.set(invalidLogBefore) }
            LegacyBindingState.clear()
        }
        let installer = LegacyInstaller(session: options.session)
        try installer.install(filter: options.filter, limit: options.limit)
        defer { installer.remove() }

        var capture: CaptureWriter?
        if let path = options.capturePath { capture = try CaptureWriter(path: path) }
        defer { capture?.close() }

        let interfaces = InterfaceNames()
        let pipeline = makePipeline(interfaces: interfaces)
        emit(.started(RecordEncoder.SessionInfo(
            filter: options.filter.summary, families: families.map(\.rawValue).sorted(),
            rules: installer.descriptions, limit: options.limit.map { $0.iptables.joined(separator: " ") }, table: "raw")))
        let loop = try SessionLoop(options: options, pipeline: pipeline, emit: emit)
        try receive(socket, loop: loop, capture: capture)
        loop.flushUnlessCounted()
        loop.reportUnrecordedPackets(traced: loop.summary.lost > 0 ? installer.tracedPackets() : nil)
        return loop.summary
    }

    func makePipeline(interfaces: InterfaceNames) -> TracePipeline {
        var config = LegacyPathAssembler.Configuration()
        config.quietPeriod = options.quietPeriod
        var pipelineOptions = TracePipeline.Options()
        // Any TRACE rule in the namespace marks packets (an admin's own too): the pipeline keeps
        // only what the filter names.
        pipelineOptions.filter = options.filter
        pipelineOptions.count = options.count
        pipelineOptions.interfaceName = { interfaces.name($0) }
        let sockets = ListeningSockets()
        let conntrack = ConntrackTable()
        pipelineOptions.environment.listening = { sockets.isListening(protocolNumber: $0, address: $1, port: $2) }
        pipelineOptions.environment.controlConnections = { conntrack.controlConnections(between: $0, and: $1) }
        return TracePipeline(backend: .legacy(config, conntrackInvalid: options.conntrackInvalid),
                             rules: TracePipeline.Rules(legacy: readRuleset(), tools: ToolStateReader.read(namespace: options.namespaceName)),
                             options: pipelineOptions)
    }

    /// Receives TRACE messages into the pipeline until count, timeout, signal or stop.
    func receive(_ socket: NflogSocket, loop: SessionLoop, capture: CaptureWriter?) throws {
        var lastPeriodicReload = loop.started
        let reload = { TracePipeline.Rules(legacy: self.readRuleset(), tools: ToolStateReader.read(namespace: self.options.namespaceName)) }
        while case .ready(let ready) = try loop.wait(on: [socket.fd]) {
            if ready[0] != 0 {
                for _ in 0..<256 {
                    let received = try socket.receive()
                    guard case .datagram(let bytes) = received else {
                        if case .overrun = received {
                            loop.reportOverrun(drops: socket.newKernelDrops(), what: "TRACE messages")
                            continue
                        }
                        break
                    }
                    let time = SystemClock.now()
                    capture?.write(bytes, time: time)
                    if loop.feed(bytes, range: 0..<bytes.count, at: time, reload: reload) { return }
                }
            }
            if loop.expire(now: SystemClock.now()) { return }
            // iptables-legacy has no change notification: re-read the ruleset at most once a
            // second while packets are traced, so positions and text follow edits.
            if loop.summary.events > 0, SystemClock.monotonic() - lastPeriodicReload >= 1 {
                lastPeriodicReload = SystemClock.monotonic()
                loop.pipeline.replaceRules(reload())
            }
        }
    }
}

/// Which backend a namespace's firewall uses, for `--backend auto`.
public enum BackendDetection {
    public enum Choice: Sendable { case nft, legacy }

    /// nft when nf_tables holds rules (nft or iptables-nft), legacy when only iptables-legacy
    /// does; both holding rules is refused so that nobody traces half of a firewall unknowingly.
    public static func detect() throws -> Choice {
        var legacyRules = false
        for program in ["iptables-legacy-save", "ip6tables-legacy-save"] where ProcessRunner.find(program) != nil {
            if let out = try? ProcessRunner.run([program]), LegacyRuleset.hasUserRules(out.stdout) { legacyRules = true }
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
