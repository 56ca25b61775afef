/// Predicts a packet's path through an iptables-syntax ruleset without sending anything: the
/// `explain` command. It walks the tables registered at each hook in the kernel's order, evaluates
/// each rule with IptablesRuleEvaluator, follows jumps, gotos and returns, applies DNAT, and stops
/// with "unknown" at the first rule it cannot evaluate (the same evaluator, the same honesty).
public struct PathPredictor {
    /// A chain's rules and policy, in iptables-save syntax.
    public struct Chain: Sendable {
        public var policy: String?
        public var rules: [String]
        public init(policy: String?, rules: [String]) { self.policy = policy; self.rules = rules }
    }

    public struct Prediction: Sendable {
        public var path: PacketPath
        /// Set when the walk stopped at a rule it could not evaluate.
        public var unknownAt: PathStep?
    }

    public var family: PacketSummary.Family
    /// (table, chain) → chain, for the tables that exist.
    public var chains: [String: [String: Chain]]
    /// Addresses of the namespace: a packet to one of them is delivered locally, else forwarded.
    public var localAddresses: Set<IPAddress>

    public init(family: PacketSummary.Family, chains: [String: [String: Chain]], localAddresses: Set<IPAddress>) {
        self.family = family; self.chains = chains; self.localAddresses = localAddresses
    }

    static let hookChains: [Hook: String] = [.prerouting: "PREROUTING", .input: "INPUT", .forward: "FORWARD", .output: "OUTPUT", .postrouting: "POSTROUTING"]

    /// `locallyGenerated` starts at OUTPUT (a packet this host sends) instead of PREROUTING.
    public func predict(_ packet: PacketSummary, iif: String?, oif: String?, ctState: String, locallyGenerated: Bool = false) -> Prediction {
        var path = PacketPath(traceID: 0, family: packet.family, time: 0, packet: packet)
        path.iif = iif
        path.oif = oif
        path.conntrack = ConntrackSummary(state: ctState)
        var current = packet
        var hook: Hook = locallyGenerated ? .output : .prerouting
        while true {
            for table in LegacyRuleset.tableOrder[hook] ?? [] {
                guard let tableChains = chains[table], let base = tableChains[Self.hookChains[hook]!] else { continue }
                if table == "nat" && ctState != "new" { continue }   // NAT sees only a connection's first packet
                let outcome = walk(table: table, chain: Self.hookChains[hook]!, base: base, hook: hook, packet: &current, path: &path)
                switch outcome {
                case .final(let verdict):
                    path.verdict = verdict
                    path.decidedBy = path.steps.indices.last
                    return Prediction(path: path, unknownAt: nil)
                case .unknown(let step):
                    path.verdict = .unknown
                    return Prediction(path: path, unknownAt: step)
                case .accepted:
                    continue
                }
            }
            // Routing decides the next hook.
            switch hook {
            case .prerouting: hook = localAddresses.contains(current.dst) ? .input : .forward
            case .forward, .output: hook = .postrouting
            default:
                path.verdict = .accept
                path.decidedBy = PathAssembler.decidingStep(path)
                return Prediction(path: path, unknownAt: nil)
            }
        }
    }

    enum Outcome { case accepted, final(PacketVerdict), unknown(PathStep) }

    func walk(table: String, chain start: String, base: Chain, hook: Hook, packet: inout PacketSummary, path: inout PacketPath) -> Outcome {
        let tableFamily: TableFamily = family == .ip ? .ip : .ip6
        var stack: [(chain: String, next: Int)] = []
        var chainName = start
        var index = 0
        while true {
            let rules = chains[table]?[chainName]?.rules ?? []
            if index >= rules.count {
                if let caller = stack.popLast() {
                    path.steps.append(PathStep(hook: hook, table: table, tableFamily: tableFamily, chain: chainName, kind: .return, verdict: .return))
                    chainName = caller.chain
                    index = caller.next
                    continue
                }
                let policy = chains[table]?[chainName]?.policy ?? "ACCEPT"
                var step = PathStep(hook: hook, table: table, tableFamily: tableFamily, chain: chainName, kind: .policy, verdict: policy == "DROP" ? .drop : .accept)
                step.chainType = table == "nat" ? "nat" : "filter"
                path.steps.append(step)
                return policy == "DROP" ? .final(.drop) : .accepted
            }
            let text = rules[index]
            var view = PacketView(path: path, beforeStep: path.steps.count)
            view.src = packet.src; view.dst = packet.dst; view.sport = packet.sport; view.dport = packet.dport
            view.iif = hook == .output || hook == .postrouting ? nil : path.iif
            view.oif = hook == .prerouting || hook == .input ? nil : path.oif
            var step = PathStep(hook: hook, table: table, tableFamily: tableFamily, chain: chainName, kind: .rule, verdict: .unknown)
            step.rule = index + 1
            step.text = text
            step.chainType = table == "nat" ? "nat" : "filter"
            switch IptablesRuleEvaluator.evaluate(text, against: view) {
            case .doesNotMatch:
                index += 1
                continue
            case .unknown:
                path.steps.append(step)
                return .unknown(step)
            case .matches:
                break
            }
            let words = LegacyRuleset.splitArguments(text)
            let target = IptablesRuleEvaluator.target(text)
            let isGoto = words.contains("-g")
            switch target {
            case nil, "LOG", "NFLOG", "MARK", "CONNMARK", "CT", "NOTRACK", "TRACE", "TOS", "TTL", "DSCP":
                step.verdict = .continue
                if target != nil { path.steps.append(step) }
                index += 1
            case "ACCEPT":
                step.verdict = .accept
                path.steps.append(step)
                return .accepted
            case "DROP", "REJECT":
                step.verdict = .drop
                step.rejects = target == "REJECT"
                path.steps.append(step)
                return .final(target == "REJECT" ? .reject : .drop)
            case "RETURN":
                step.kind = .return
                step.verdict = .return
                path.steps.append(step)
                if let caller = stack.popLast() { chainName = caller.chain; index = caller.next; continue }
                let policy = chains[table]?[chainName]?.policy ?? "ACCEPT"
                return policy == "DROP" ? .final(.drop) : .accepted
            case "DNAT", "REDIRECT":
                guard let rewritten = Self.dnat(words, packet) else { return .unknown(step) }
                step.verdict = .accept
                step.nat = NatChange(before: Endpoint(packet), after: Endpoint(rewritten))
                path.steps.append(step)
                packet = rewritten
                return .accepted
            case "SNAT", "MASQUERADE":
                step.verdict = .accept
                path.steps.append(step)
                return .accepted
            case let target?:
                guard chains[table]?[target] != nil, chains[table]?[target]?.policy == nil else { return .unknown(step) }
                step.kind = isGoto ? .goto : .jump
                step.verdict = isGoto ? .goto : .jump
                step.target = target
                path.steps.append(step)
                if !isGoto { stack.append((chainName, index + 1)) }
                chainName = target
                index = 0
            }
        }
    }

    /// The packet after `-j DNAT --to-destination a[:p]` or `-j REDIRECT --to-ports p`.
    static func dnat(_ words: [String], _ packet: PacketSummary) -> PacketSummary? {
        var out = packet
        if let i = words.firstIndex(of: "--to-destination"), i + 1 < words.count {
            let value = words[i + 1]
            let parts = value.split(separator: ":")
            guard let address = parts.first.flatMap({ IPAddress(String($0)) }) else { return nil }
            out.dst = address
            if parts.count == 2 { guard let port = UInt16(parts[1]) else { return nil }; out.dport = port }
            return out
        }
        if let i = words.firstIndex(of: "--to-ports"), i + 1 < words.count, let port = UInt16(words[i + 1]) {
            out.dport = port
            return out
        }
        return nil
    }
}

extension PathPredictor {
    /// From an iptables-save text (one family).
    public init(save: String, family: PacketSummary.Family, localAddresses: Set<IPAddress>) {
        var chains: [String: [String: Chain]] = [:]
        var table = ""
        for raw in save.split(separator: "\n") {
            let line = LegacyRuleset.stripCounters(String(raw))
            if line.hasPrefix("*") { table = String(line.dropFirst()); chains[table] = [:]; continue }
            if line.hasPrefix(":") {
                let words = line.dropFirst().split(separator: " ")
                guard let name = words.first else { continue }
                chains[table]?[String(name)] = Chain(policy: words.count > 1 && words[1] != "-" ? String(words[1]) : nil, rules: [])
                continue
            }
            guard line.hasPrefix("-A ") else { continue }
            let words = LegacyRuleset.splitArguments(line)
            if let c = words.firstIndex(of: "--comment"), c + 1 < words.count, words[c + 1].hasPrefix("fwtrace:") { continue }
            chains[table]?[words[1], default: Chain(policy: nil, rules: [])].rules.append(line)
        }
        self.init(family: family, chains: chains, localAddresses: localAddresses)
    }
}
