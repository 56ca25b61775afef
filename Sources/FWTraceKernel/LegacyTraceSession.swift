import Glibc
import FWTraceCore

/// One `follow` on the legacy backend (iptables-legacy TRACE through nfnetlink_log). Same records
/// as the nft backend. Order on the way in: sweep what a crashed session left, bind the logger
/// (remembering the old binding), install the TRACE rules; on the way out, the reverse.
public final class LegacyTraceSession {
    let options: NftTraceSession.Options
    public init(options: NftTraceSession.Options) { self.options = options }

    func readRuleset() -> LegacyRuleset {
        let v4 = (try? ProcessRunner.run(["iptables-legacy-save", "-c"]))?.stdout ?? ""
        let v6 = ProcessRunner.find("ip6tables-legacy-save") == nil ? "" : ((try? ProcessRunner.run(["ip6tables-legacy-save", "-c"]))?.stdout ?? "")
        return LegacyRuleset.parse(ipv4: v4, ipv6: v6)
    }

    public func run(emit: (NftTraceSession.Record) -> Void, notice: (String) -> Void) throws -> NftTraceSession.Summary {
        let families = options.filter.families
        try LegacyInstaller.requireTools(families)
        let signalFD = try Signals.makeFD()
        defer { close(signalFD) }

        for line in LegacyInstaller.sweepOrphans() { notice("removed a TRACE rule left by an earlier fwtrace that did not exit cleanly: \(line)") }
        for line in LegacyBindingState.recoverOrphan() { notice("repaired the logger binding an earlier fwtrace left: \(line)") }

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
        var config = LegacyPathAssembler.Configuration()
        config.quietPeriod = options.quietPeriod
        let assembler = LegacyPathAssembler(configuration: config, ruleset: readRuleset())
        var lastReload = NftTraceSession.now()
        assembler.refreshRuleset = { [self] in
            let now = NftTraceSession.now()
            guard now - lastReload > 0.05 else { return nil }
            lastReload = now
            return readRuleset()
        }
        assembler.interfaceName = { interfaces.name($0) }

        emit(.started(RecordEncoder.SessionInfo(
            filter: options.filter.summary, families: families.map(\.rawValue).sorted(),
            rules: installer.descriptions, limit: options.limit.map { $0.iptables.joined(separator: " ") }, table: "raw")))

        var summary = NftTraceSession.Summary()
        let started = NftTraceSession.now()
        var lastPeriodicReload = started
        let sockets = ListeningSockets()
        var hintContext = HintContext(rules: { assembler.ruleset.rulesInChain($0, $1, $2) },
                                      listening: { sockets.isListening(protocolNumber: $0, address: $1, port: $2) })
        hintContext.controlConnections = { ConntrackTable.controlConnections(between: $0, and: $1) }
        func deliver(_ paths: [PacketPath]) -> Bool {
            // An admin's own TRACE rule marks packets too: keep only what the filter names.
            for var path in paths where options.filter.accepts(path) && options.filter.matches(path.packet) {
                path.hints = HintEngine.hints(for: path, context: hintContext)
                emit(.path(path))
                summary.paths += 1
                if let count = options.count, summary.paths >= count { summary.reason = .count; return true }
            }
            return false
        }
        var fds = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0), pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)]
        loop: while true {
            let now = NftTraceSession.now()
            if let timeout = options.timeout, now - started >= timeout { summary.reason = .timeout; break }
            var wait = assembler.pendingCount > 0 ? options.quietPeriod / 2 : 0.5
            if let timeout = options.timeout { wait = min(wait, max(0, timeout - (now - started))) }
            if poll(&fds, nfds_t(fds.count), Int32((wait * 1000).rounded(.up))) < 0 && errno != EINTR { throw SystemError("poll") }
            if fds[1].revents != 0, Signals.read(signalFD) != nil { summary.reason = .signal; break }
            if fds[0].revents != 0 {
                for _ in 0..<256 {
                    let received = try socket.receive()
                    guard case .datagram(let bytes) = received else {
                        if case .overrun = received {
                            let drops = socket.newKernelDrops()
                            summary.lost += drops ?? 0
                            emit(.loss(count: drops ?? 0, reason: "enobufs", detail: "the kernel dropped \(drops.map(String.init) ?? "an unknown number of") TRACE messages: the receive queue overflowed"))
                            continue
                        }
                        break
                    }
                    let time = NftTraceSession.now()
                    capture?.write(bytes, time: time)
                    guard let messages = try? NetlinkMessage.split(bytes) else {
                        emit(.loss(count: 1, reason: "decode-error", detail: "a datagram could not be framed"))
                        continue
                    }
                    for message in messages where message.type == NflogDecoder.messageType {
                        summary.events += 1
                        do {
                            let logged = try NflogDecoder.decode(bytes, body: message.body)
                            guard let prefix = logged.prefix else { continue }
                            guard let trace = LegacyTracePrefix.parse(prefix) else {
                                if options.conntrackInvalid { assembler.noteConntrackInvalid(logged) }
                                continue
                            }
                            if deliver(assembler.ingest(logged, trace: trace, at: time)) { break loop }
                        } catch {
                            emit(.loss(count: 1, reason: "decode-error", detail: "\(error)"))
                        }
                    }
                }
            }
            if deliver(assembler.expire(now: NftTraceSession.now())) { break }
            // iptables-legacy has no change notification: re-read the ruleset at most once a
            // second while packets are traced, so positions and text follow edits.
            if summary.events > 0, NftTraceSession.now() - lastPeriodicReload >= 1 {
                lastPeriodicReload = NftTraceSession.now()
                assembler.ruleset = readRuleset()
            }
        }
        if summary.reason != .count { _ = deliver(assembler.flush()) }
        return summary
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
