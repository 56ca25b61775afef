import ArgumentParser
import FWTraceCore
import FWTraceKernel
import Foundation
import Glibc

/// `fwtrace explain`: the path a described packet would take, predicted from the ruleset, with
/// nothing installed and nothing sent.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Predict a packet's path through the current ruleset, offline: no rule installed, no packet sent.",
        usage: "fwtrace explain -s <address> -d <address> [--dport <port>] [<options>]",
        discussion: """
        Walks the tables at each hook in the kernel's order and evaluates every rule against the packet you describe, with the evaluator behind the shadowed-rule hint, and with what it reads of the namespace: its addresses (addrtype, fib, routing), recent's lists in /proc/net/xt_recent, the packet's mark and its connection's NAT. Where it must assume (limit and hashlimit under their rate, a recent list it cannot read empty) it says so under the path. Where a rule uses a match fwtrace cannot decide (set, string, …) the prediction stops there, says "unknown" and names the match: it never guesses. On nf_tables, every table is evaluated: the ones iptables-nft manages from their iptables text, native ones from their JSON form (payload, meta, ct state, anonymous and named sets, ranges, prefixes, verdict maps, jump/goto/return, dnat); on iptables-legacy, the iptables-legacy-save text.

        Reading the ruleset needs CAP_NET_ADMIN (root); nothing is installed and nothing is sent.

        EXAMPLES:
          sudo fwtrace explain -p tcp -s 203.0.113.7 -d 10.0.0.5 --dport 8080 -i eth0
          sudo fwtrace explain --netns web1 -p udp -s 10.0.0.9 -d 10.0.0.5 \\
            --dport 53 --state new

        \(ExitCodesHelp.section([
            (ExitCode.success, "predicted (the path is printed, \"unknown\" included)"),
            (ExitCode.failure, "runtime failure"),
            (ExitCode.usage, "invalid arguments (an address, a port, a state, an option)"),
            (ExitCode.noPrivilege, "not enough privileges (reading the ruleset needs root)"),
            (ExitCode.unavailable, "backend or namespace unavailable, the ruleset unreadable"),
        ]))
        """)

    @Option(name: [.customShort("p"), .long], help: "Protocol: tcp, udp, icmp, icmpv6, sctp or a number.")
    var proto: String = "tcp"
    @Option(name: [.customShort("s"), .customLong("src")], help: ArgumentHelp("Source address, IPv4 or IPv6.", valueName: "address"))
    var src: String
    @Option(name: [.customShort("d"), .customLong("dst")], help: ArgumentHelp("Destination address, of the same family.", valueName: "address"))
    var dst: String
    @Option(help: ArgumentHelp("Source port, 0 to 65535.", valueName: "port")) var sport: String = "40000"
    @Option(help: ArgumentHelp("Destination port, 0 to 65535 (needed for tcp, udp and sctp).", valueName: "port")) var dport: String?
    @Option(name: [.customShort("i"), .customLong("in-interface")], help: ArgumentHelp("Interface the packet arrives on.", valueName: "name"))
    var inInterface: String?
    @Option(name: [.customShort("o"), .customLong("out-interface")], help: ArgumentHelp("Interface it leaves by (forwarded or local packets).", valueName: "name"))
    var outInterface: String?
    @Option(help: ArgumentHelp("Conntrack state: \(Self.states.joined(separator: ", ")).", valueName: "state")) var state: String = "new"
    @Flag(help: "The packet is sent by this host (starts at OUTPUT).") var local = false
    @Option(help: ArgumentHelp("The packet's mark (skb->mark) as it arrives: a number or 0x…, default 0.", valueName: "mark")) var mark: String = "0"
    @Option(name: .customLong("own-address"), help: ArgumentHelp("One of the namespace's own addresses, ADDRESS[/LENGTH][@INTERFACE], instead of reading them (`ip -j addr show`): addrtype LOCAL, fib and routing to INPUT use them. Repeat it for more.", valueName: "address"))
    var ownAddresses: [String] = []
    @Option(help: ArgumentHelp("An `ip netns` name, a path or a PID.", valueName: "name|path|pid")) var netns: String?
    @Option(help: ArgumentHelp("Firewall backend: auto, nft (nftables and iptables-nft), legacy (iptables-legacy).", valueName: "backend")) var backend: Backend = .auto
    @Option(help: ArgumentHelp("Output format: auto (text on a terminal, json otherwise), json, text.", valueName: "format")) var format: OutputFormat = .auto

    func run() throws {
        let summary = try packetSummary()
        try Privileges.requireNetAdmin(command: "explain", purpose: "to read the ruleset (it installs nothing and sends nothing)")
        var namespace: NetworkNamespace?
        if let netns { namespace = try NetworkNamespace.resolve(netns); try namespace!.enter() }

        let chosen: BackendDetection.Choice = backend == .legacy ? .legacy : backend == .nft ? .nft : try BackendDetection.detect()
        let listeners = ListeningSockets()
        let predicted = try chosen == .nft ? predictFromNftables(summary, listeners: listeners) : predictFromLegacy(summary, listeners: listeners)
        var prediction = predicted.prediction
        prediction.path.hints = HintEngine.hints(for: prediction.path, context: predicted.hints)
        printPrediction(&prediction, backend: chosen, namespace: namespace)
    }

    /// The packet the options describe; a malformed option is a usage error, reported before
    /// privileges are checked.
    private func packetSummary() throws -> PacketSummary {
        do {
            let p = try TraceFilter.parseProto(proto)
            let s = try Self.address(src, option: "--src", example: "-s 10.0.0.1")
            let d = try Self.address(dst, option: "--dst", example: "-d 10.0.0.2")
            guard s.isV4 == d.isV4 else {
                throw FilterError("--src \(src) and --dst \(dst) are of different families: give two IPv4 or two IPv6 addresses", example: "-s 10.0.0.1 -d 10.0.0.2")
            }
            guard Self.states.contains(state) else {
                throw FilterError("invalid --state '\(state)': give one of \(Self.states.joined(separator: ", "))", example: "--state new")
            }
            if let i = inInterface { _ = try TraceFilter.parseInterface(i, option: "-i") }
            if let o = outInterface { _ = try TraceFilter.parseInterface(o, option: "-o") }
            try validateEnvironmentOptions()
            var packet = PacketSummary(family: s.isV4 ? .ip : .ip6, src: s, dst: d, protocolNumber: p.number, length: 60, ttl: 64)
            let sourcePort = try Self.port(sport, option: "--sport")
            let destinationPort = try dport.map { try Self.port($0, option: "--dport") }
            if [6, 17, 132].contains(p.number) {
                guard let destinationPort else { throw FilterError("--dport is needed for \(proto)", example: "--dport 8080") }
                packet.sport = sourcePort; packet.dport = destinationPort
                if p.number == 6 { packet.tcpFlags = ctState == .new ? 0x02 : 0x10 }
            }
            if p.number == 1 || p.number == 58 { packet.icmpType = p.number == 1 ? 8 : 128; packet.icmpCode = 0 }
            return packet
        } catch let error as FilterError {
            throw UserFacingError(error.description, exitCode: ExitCode.usage)
        }
    }

    /// The whole nf_tables ruleset: iptables-nft tables evaluated from their iptables text,
    /// native tables from their JSON form.
    private func predictFromNftables(_ summary: PacketSummary, listeners: ListeningSockets) throws
        -> (prediction: PathPredictor.Prediction, hints: HintContext) {
        let context = try NftablesContext()
        defer { context.close() }
        let reader = RulesetReader(context: context)
        var ruleset = reader.load()
        guard let json = reader.loadJSON() else {
            throw UserFacingError("could not read the ruleset's JSON form from libnftables", exitCode: ExitCode.unavailable)
        }
        ruleset.addNftJSON(json)
        let environment = try predictionEnvironment()
        var predictor = PathPredictor(nft: ruleset, family: summary.family, localAddresses: environment.routing)
        predictor.environment = environment.matches
        var prediction = predictor.predict(summary, iif: predictedInInterface, oif: outInterface, ctState: ctState, locallyGenerated: local)
        // The owners and the hints in the managers' terms, from their files as follow reads them.
        let tools = ToolStateReader.read(namespace: netnsName)
        OwnerMap(ruleset: ruleset, state: tools).annotate(&prediction.path)
        var hintContext = HintContext(rules: { ruleset.rulesInChain($0, $1, $2) },
                                      listening: { listeners.isListening(protocolNumber: $0, address: $1, port: $2) })
        hintContext.tools = tools
        hintContext.evaluateNativeRules(with: ruleset)
        return (prediction, hintContext)
    }

    /// iptables-legacy: the ruleset of the packet's family, from its -save text.
    private func predictFromLegacy(_ summary: PacketSummary, listeners: ListeningSockets) throws
        -> (prediction: PathPredictor.Prediction, hints: HintContext) {
        let family = summary.family
        let saveProgram = family == .ip ? "iptables-legacy-save" : "ip6tables-legacy-save"
        let save = try ProcessRunner.run([saveProgram])
        guard save.ok else { throw UserFacingError("\(saveProgram) failed: \(save.stderr)", exitCode: ExitCode.unavailable) }
        let ruleset = Ruleset.parse(iptablesSave: family == .ip ? save.stdout : "", ip6tablesSave: family == .ip6 ? save.stdout : "")
        let environment = try predictionEnvironment()
        var predictor = PathPredictor(iptables: ruleset, family: family, localAddresses: environment.routing)
        predictor.environment = environment.matches
        var prediction = predictor.predict(summary, iif: predictedInInterface, oif: outInterface, ctState: ctState, locallyGenerated: local)
        let tools = ToolStateReader.read(namespace: netnsName)
        OwnerMap(ruleset: ruleset, state: tools).annotate(&prediction.path)
        var hintContext = HintContext(rules: { ruleset.rulesInChain($0, $1, $2) },
                                      listening: { listeners.isListening(protocolNumber: $0, address: $1, port: $2) })
        hintContext.tools = tools
        return (prediction, hintContext)
    }

    /// The `ip netns` name given, whose /etc/netns/NAME holds the managers' state.
    private var netnsName: String? { netns.flatMap { try? NetworkNamespace.resolve($0) }?.ipNetnsName }

    /// A locally generated packet arrives on no interface; any other on -i, or on any.
    private var predictedInInterface: String? { local ? nil : (inInterface ?? "any") }

    /// The predicted path as a path record marked `predicted` (json), or the text view.
    private func printPrediction(_ prediction: inout PathPredictor.Prediction, backend chosen: BackendDetection.Choice,
                                 namespace: NetworkNamespace?) {
        let json = format == .json || (format == .auto && isatty(1) == 0)
        let context = RecordContext(host: TraceJob.hostname(), netns: namespace?.displayName,
                                    backend: chosen == .nft ? "nft" : "legacy", session: "explain")
        prediction.path.time = SystemClock.now()
        if json {
            var line = RecordEncoder.path(prediction.path, context: context)
            line.removeLast()   // the closing brace: add what marks a prediction
            line += ",\"predicted\":true" + prediction.noteMembers
            Console.print(line + "}")
        } else {
            Console.print("PREDICTION (nothing was sent; from the \(chosen == .nft ? "nf_tables" : "iptables-legacy") ruleset)")
            Console.print(TextView(color: isatty(1) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil).render(prediction.path, netns: namespace?.displayName))
            prediction.noteLines.forEach { Console.print($0) }
        }
    }

    static let states = ConntrackState.allCases.map(\.rawValue)

    /// --state, checked against `states` before any prediction.
    private var ctState: ConntrackState { ConntrackState(rawValue: state) ?? .new }

    /// One address (explain describes one packet: no prefix), refused the way follow refuses one.
    static func address(_ text: String, option: String, example: String) throws -> IPAddress {
        guard let address = IPAddress(text) else {
            throw FilterError("invalid address '\(text)' for \(option): give one IPv4 or IPv6 address", example: example)
        }
        return address
    }

    /// One port, checked by follow's parser (the same message for 99999); a range or list is refused.
    static func port(_ text: String, option: String) throws -> UInt16 {
        let parsed: TraceFilter.Ports
        do { parsed = try TraceFilter.parsePorts(text, option: option) } catch let error as FilterError {
            throw FilterError(error.message, example: "\(option) 8080")
        }
        guard case .single(let port) = parsed else {
            throw FilterError("\(option) \(text) is not one port: explain describes one packet, give one port from 0 to 65535", example: "\(option) 8080")
        }
        return port
    }
}
