/// What a careful admin would check next, from evidence on the path. Every hint has a stable code
/// (docs/hints.md) and says what it rests on; where the evidence is not conclusive, no hint.
public struct HintContext {
    /// The rules of a chain in order: position, text (iptables-save syntax when `isIptables`).
    public var rules: (_ family: TableFamily, _ table: String, _ chain: String) -> [(position: Int, text: String, isIptables: Bool)]
    /// Whether something listens on this protocol, address and port in the traced namespace;
    /// nil when it cannot be told.
    public var listening: (_ protocolNumber: UInt8, _ address: IPAddress, _ port: UInt16) -> Bool?
    /// Conntrack entries between two hosts on ports whose protocol needs a helper (ftp, tftp, …);
    /// nil when the conntrack table cannot be read.
    public var controlConnections: (_ a: IPAddress, _ b: IPAddress) -> [ControlConnection]? = { _, _ in nil }
    /// For native nft rules: whether the rule at this position matches the packet *and accepts it*
    /// (.matches), does not (.doesNotMatch), or cannot be told.
    public var nativeRuleAccepts: (_ family: TableFamily, _ table: String, _ chain: String, _ position: Int, _ packet: PacketView) -> RuleMatch = { _, _, _, _, _ in .unknown }

    public init(rules: @escaping (TableFamily, String, String) -> [(position: Int, text: String, isIptables: Bool)],
                listening: @escaping (UInt8, IPAddress, UInt16) -> Bool?) {
        self.rules = rules
        self.listening = listening
    }

    /// Which rules of the chain asked last have ACCEPT as their target: asked on every dropped path.
    let acceptTargets = AcceptTargets()
    /// The managers' state, parsed (HintTools.swift: `tools`, `fail2banBans`).
    var toolState = HintTools(ToolState())
    var banTexts: [String: String] = [:]
}

/// The ACCEPT targets of the last rule list the hints looked at, by index. The list is kept, so
/// its storage cannot be freed and reused: a list at the same address is the same list (a new
/// ruleset's lists are new arrays).
final class AcceptTargets {
    private var rules: [(position: Int, text: String, isIptables: Bool)] = []
    private var accepts: [Bool] = []

    func of(_ list: [(position: Int, text: String, isIptables: Bool)]) -> [Bool] {
        let same = list.withUnsafeBufferPointer { a in rules.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress && a.count == b.count } }
        if !same || list.isEmpty {
            rules = list
            accepts = list.map { $0.isIptables && IptablesRuleEvaluator.target($0.text) == "ACCEPT" }
        }
        return accepts
    }
}

/// A connection whose protocol opens further connections that only a conntrack helper can tie
/// to it (FTP's data connections and the like).
public struct ControlConnection: Equatable, Sendable {
    public var protocolName: String
    public var client: IPAddress
    public var server: IPAddress
    public var clientPort: UInt16
    public var port: UInt16
    public var state: String
    /// The helper conntrack attached to it (`helper=ftp`), nil when none.
    public var helper: String?

    public init(protocolName: String, client: IPAddress, server: IPAddress, clientPort: UInt16, port: UInt16, state: String, helper: String?) {
        self.protocolName = protocolName; self.client = client; self.server = server
        self.clientPort = clientPort; self.port = port; self.state = state; self.helper = helper
    }

    /// Well-known control ports and the helper each needs.
    public static let helpers: [(protocolName: String, port: UInt16, helper: String)] = [
        ("tcp", 21, "ftp"), ("udp", 69, "tftp"), ("tcp", 6667, "irc"), ("udp", 5060, "sip"), ("tcp", 5060, "sip"),
        ("tcp", 1723, "pptp"), ("tcp", 10080, "amanda"),
    ]
}

public enum HintEngine {
    public static func hints(for path: PacketPath, context: HintContext) -> [Hint] {
        var hints: [Hint] = []
        // The managers' hints read steps a manager owns: on a path with none (most paths of an
        // unmanaged host) they are skipped with one pass over the owners, by index (iterating
        // the steps would copy each one).
        let managed = path.steps.indices.contains { path.steps[$0].owner != nil }
        if managed {
            if let h = banned(path, context) { hints.append(h) }
            if let h = noEndpoints(path) { hints.append(h) }
            if let h = firewalldZone(path, context) { hints.append(h) }
            if let h = publishedPort(path, context) { hints.append(h) }
        }
        if let h = shadowedRule(path, context) { hints.append(h) }
        if managed, let h = shadowedDeny(path, context) { hints.append(h) }
        if let h = forwarded(path) { hints.append(h) }
        hints += natRewrites(path)
        if let h = policy(path) { hints.append(h) }
        if let h = conntrack(path) { hints.append(h) }
        if let h = noListener(path, context) { hints.append(h) }
        if let h = helperMissing(path, context) { hints.append(h) }
        return hints
    }

    /// A NEW packet to a dynamic port was dropped between two hosts that hold a control connection
    /// (FTP and the like) with no helper attached: with the helper, conntrack would have made this
    /// data connection RELATED, and the RELATED,ESTABLISHED rule would have accepted it.
    static func helperMissing(_ path: PacketPath, _ context: HintContext) -> Hint? {
        guard path.verdict == .drop || path.verdict == .reject, path.conntrack?.state == .new,
              let decided = path.decidedBy else { return nil }
        let view = PacketView(path: path, beforeStep: decided)
        guard let dport = view.dport, dport >= 1024,
              let connections = context.controlConnections(view.src, view.dst) else { return nil }
        guard let control = connections.first(where: { $0.helper == nil && $0.state == "ESTABLISHED" }),
              let needed = ControlConnection.helpers.first(where: { $0.port == control.port && $0.protocolName == control.protocolName }) else { return nil }
        let d = path.steps[decided]
        let upper = needed.helper.uppercased()
        let (advice, fix) = helperFix(d, needed.helper, control)
        return Hint(code: "helper-missing",
                    message: "this looks like a \(upper) data connection: \(control.client) and \(control.server) hold an ESTABLISHED \(upper) control connection (\(control.protocolName) port \(control.port)) with no conntrack helper attached, so this packet is NEW instead of RELATED and \(place(d)) \(ruleRef(d)) \(path.verdict == .reject ? "rejected" : "dropped") it. \(advice)",
                    evidence: [("control_connection", "\(control.client):\(control.clientPort) -> \(control.server):\(control.port)"),
                               ("helper", needed.helper), ("port", String(dport))] + (fix.map { [("fix", $0)] } ?? []))
    }

    static func place(_ s: PathStep) -> String { "\(s.table)/\(s.chain)" }

    static func ruleRef(_ s: PathStep) -> String {
        if let r = s.rule, let t = s.text { return "rule \(r) (`\(t)`)" }
        if let r = s.rule { return "rule \(r)" }
        return "the chain's policy"
    }

    /// A later rule in the same chain would have accepted the packet, but an earlier one dropped it.
    static func shadowedRule(_ path: PacketPath, _ context: HintContext) -> Hint? {
        guard path.verdict == .drop || path.verdict == .reject, let index = path.decidedBy else { return nil }
        let step = path.steps[index]
        guard step.kind == .rule, let position = step.rule, let text = step.text else { return nil }
        let rules = context.rules(step.tableFamily, step.table, step.chain)
        // Both kinds look only at later rules: none, no hint (and no packet view to build).
        guard rules.contains(where: { $0.position > position }) else { return nil }
        guard rules.first(where: { $0.position == position })?.isIptables == true else {
            return shadowedNativeRule(path, step: step, position: position, text: text, rules: rules,
                                      view: PacketView(path: path, beforeStep: index), context)
        }
        var view: PacketView?   // built for the first later rule that accepts
        let accepts = context.acceptTargets.of(rules)
        for (i, later) in rules.enumerated() where later.position > position && later.isIptables {
            guard accepts[i] else { continue }
            if view == nil { view = PacketView(path: path, beforeStep: index) }
            guard IptablesRuleEvaluator.evaluate(later.text, against: view!) == .matches else { continue }
            return shadowedIptables(step, position: position, text: text, later: later, context)
        }
        return nil
    }

    /// The same for a native nft chain: a later rule that would match and accept.
    static func shadowedNativeRule(_ path: PacketPath, step: PathStep, position: Int, text: String,
                                   rules: [(position: Int, text: String, isIptables: Bool)], view: PacketView, _ context: HintContext) -> Hint? {
        for later in rules where later.position > position && !later.isIptables {
            guard context.nativeRuleAccepts(step.tableFamily, step.table, step.chain, later.position, view) == .matches else { continue }
            return shadowedNative(step, position: position, text: text, later: later, view: view)
        }
        return nil
    }

    static func forwarded(_ path: PacketPath) -> Hint? {
        guard path.steps.indices.contains(where: { path.steps[$0].hook == .forward }) else { return nil }
        // A bridged frame was switched, not routed (and never meets INPUT either way).
        guard !path.steps.indices.contains(where: { path.steps[$0].tableFamily == .bridge }) else { return nil }
        var chains: [String] = []
        for s in path.steps where !chains.contains("\(s.hook.rawValue):\(place(s))") { chains.append("\(s.hook.rawValue):\(place(s))") }
        return Hint(code: "forwarded",
                    message: "the packet was routed through this host (FORWARD), not delivered to it: INPUT rules never applied. Rules for containers, VMs and routed traffic belong in FORWARD. Chains it met: \(chains.joined(separator: ", "))",
                    evidence: [("chains", chains.joined(separator: ","))])
    }

    static func natRewrites(_ path: PacketPath) -> [Hint] {
        path.steps.indices.compactMap { index in
            guard let nat = path.steps[index].nat else { return nil }
            let s = path.steps[index]
            func ep(_ e: Endpoint, dst: Bool) -> String {
                let a = dst ? e.dst : e.src, p = dst ? e.dport : e.sport
                return p.map { "\(a):\($0)" } ?? "\(a)"
            }
            let dstChanged = nat.before.dst != nat.after.dst || nat.before.dport != nat.after.dport
            let what = dstChanged ? "destination \(ep(nat.before, dst: true)) → \(ep(nat.after, dst: true))"
                                  : "source \(ep(nat.before, dst: false)) → \(ep(nat.after, dst: false))"
            let later = Array(Set(path.steps[(index + 1)...].map(place))).sorted()
            let seen = later.isEmpty ? "" : "; \(later.joined(separator: ", ")) saw the rewritten packet, so \(later.count == 1 ? "its" : "their") rules must match the new \(dstChanged ? "destination" : "source")"
            return Hint(code: "nat-rewrite",
                        message: "\(place(s)) \(ruleRef(s)) rewrote the \(what)\(seen)",
                        evidence: [("chain", place(s)), ("rule", s.rule.map(String.init) ?? ""), ("before", ep(nat.before, dst: dstChanged)), ("after", ep(nat.after, dst: dstChanged))])
        }
    }

    static func policy(_ path: PacketPath) -> Hint? {
        guard let i = path.decidedBy, path.steps[i].kind == .policy else { return nil }
        let d = path.steps[i]
        guard path.verdict != .accept || d.table == "filter" || d.chainType == .filter else { return nil }
        let what = d.verdict == .drop ? "dropped" : "accepted"
        if let (advice, evidence) = policyAdvice(path, i) {
            return Hint(code: "policy", message: "no rule in \(place(d)) decided: the chain's policy dropped the packet\(advice)",
                        evidence: [("chain", place(d)), ("policy", d.verdict.rawValue)] + evidence)
        }
        return Hint(code: "policy",
                    message: "no rule in \(place(d)) decided: the chain's policy \(what) the packet\(d.verdict == .drop ? " (add a rule that accepts it, or check why the one you expected did not match)" : "")",
                    evidence: [("chain", place(d)), ("policy", d.verdict.rawValue)])
    }

    static func conntrack(_ path: PacketPath) -> Hint? {
        if path.conntrack?.state == .invalid {
            let reason = path.conntrack?.invalidReason.map { ": conntrack says \"\($0)\"" } ?? ""
            return Hint(code: "conntrack", message: "conntrack considers this packet INVALID\(reason); rules matching --ctstate INVALID (or ct state invalid) apply to it, ESTABLISHED/RELATED ones do not",
                        evidence: [("state", "invalid")] + (path.conntrack?.invalidReason.map { [("reason", $0)] } ?? []))
        }
        guard let i = path.decidedBy, path.steps[i].verdict == .accept, path.steps[i].text != nil,
              let state = path.conntrack?.state, state == .established || state == .related else { return nil }
        let d = path.steps[i]
        guard let text = d.text else { return nil }
        let lowered = text.lowercased()
        guard lowered.contains("established") || lowered.contains("related") else { return nil }
        return Hint(code: "conntrack",
                    message: "accepted early by \(place(d)) \(ruleRef(d)) because the connection is \(state.rawValue.uppercased()): rule changes only affect new connections, so this connection is not re-checked against later rules",
                    evidence: [("state", state.rawValue), ("chain", place(d)), ("rule", d.rule.map(String.init) ?? "")])
    }

    static func noListener(_ path: PacketPath, _ context: HintContext) -> Hint? {
        guard path.verdict == .accept, !path.incomplete, path.steps.indices.contains(where: { path.steps[$0].hook == .input }),
              !path.steps.indices.contains(where: { path.steps[$0].hook == .forward }) else { return nil }
        let p = path.packet
        guard p.protocolNumber == 6 || p.protocolNumber == 17, p.tcpFlags.map({ $0 & 0x12 == 0x02 }) ?? true else { return nil }
        let view = PacketView(path: path, beforeStep: path.steps.count)
        guard let port = view.dport, context.listening(p.protocolNumber, view.dst, port) == false else { return nil }
        let proto = p.protocolName
        return Hint(code: "no-listener",
                    message: "the firewall accepted it, but nothing listens on \(proto) \(view.dst):\(port) in this namespace (`ss -ln\(proto == "tcp" ? "t" : "u")` shows no such socket): the host will answer \(proto == "tcp" ? "with a TCP reset (connection refused)" : "with ICMP port unreachable"). Start the service, or check the address and port it binds",
                    evidence: [("protocol", proto), ("address", view.dst.description), ("port", String(port))])
    }
}

extension HintEngine {
    /// `--timeout` passed and nothing matched: what was watched, and where the traffic may be instead.
    public static func noMatchSeen(filter: TraceFilter, namespace: String, seconds: String, hooks: String) -> Hint {
        let families = filter.families.map { $0 == .ip ? "IPv4" : "IPv6" }.sorted().joined(separator: " and ")
        let other = filter.families.count == 1 ? "as the other IP family (\(filter.families.first == .ip ? "IPv6" : "IPv4")), " : "as IPv6 rather than IPv4 (or the reverse), "
        let interface = filter.inInterface.map { "on another interface than \($0), " } ?? "on an interface you did not expect, "
        return Hint(code: "no-match-seen",
                    message: "no packet matched \(filter.summary) (\(families)) at \(hooks) in \(namespace) within \(seconds). Check: does the traffic reach this host at all (upstream firewalls, security groups, routing)? It may arrive \(other)\(interface)or in another network namespace (a container: use --netns); and is the service bound where clients connect?",
                    evidence: [("netns", namespace), ("filter", filter.summary), ("families", families), ("hooks", hooks), ("waited", seconds)])
    }
}
