/// Predicts a packet's path through an iptables-syntax ruleset without sending anything: the
/// `explain` command. It walks the tables registered at each hook in the kernel's order, evaluates
/// each rule with IptablesRuleEvaluator, follows jumps, gotos and returns, applies DNAT, and stops
/// with "unknown" at the first rule it cannot evaluate (the same evaluator, the same honesty).
public struct PathPredictor {
    /// One rule, evaluated: whether it matches, what it then does (nil: fwtrace cannot tell), and
    /// how to show it.
    public struct EvaluatedRule {
        public var match: RuleMatch
        public var action: RuleVerdict?
        public var text: String?
        public var handle: UInt64?
        /// What the match rests on, and the match it could not evaluate (MatchEvaluation).
        public var assumptions: [MatchAssumption] = []
        public var unknownMatch: String?
        /// How the rule sets the packet mark when it matches (MARK, `meta mark set`).
        public var mark: MarkEffect?
        public init(match: RuleMatch, action: RuleVerdict?, text: String?, handle: UInt64?) {
            self.match = match; self.action = action; self.text = text; self.handle = handle
        }
    }

    /// What the walk needs from a ruleset.
    public struct Source {
        /// Base chains at a hook for the packet's family, in the order they run; `isNat` chains see
        /// only a connection's first packet.
        public var baseChains: (_ hook: Hook) -> [(table: Ruleset.TableKey, chain: String, isNat: Bool)]
        /// The chain's rule count, nil when the chain does not exist.
        public var ruleCount: (_ table: Ruleset.TableKey, _ chain: String) -> Int?
        /// The chain's policy; nil for user chains.
        public var policy: (_ table: Ruleset.TableKey, _ chain: String) -> ChainPolicy?
        public var evaluate: (_ table: Ruleset.TableKey, _ chain: String, _ index: Int, _ packet: PacketView) -> EvaluatedRule
        public init(baseChains: @escaping (Hook) -> [(table: Ruleset.TableKey, chain: String, isNat: Bool)],
                    ruleCount: @escaping (Ruleset.TableKey, String) -> Int?, policy: @escaping (Ruleset.TableKey, String) -> ChainPolicy?,
                    evaluate: @escaping (Ruleset.TableKey, String, Int, PacketView) -> EvaluatedRule) {
            self.baseChains = baseChains; self.ruleCount = ruleCount; self.policy = policy; self.evaluate = evaluate
        }
    }

    public struct Prediction: Sendable {
        public var path: PacketPath
        /// Set when the walk stopped at a rule it could not evaluate.
        public var unknownAt: PathStep?
        /// The match of that rule fwtrace could not evaluate.
        public var unknownMatch: String?
        /// The assumptions the prediction rests on, each with the step of its rule.
        public var assumptions: [(step: PathStep, assumption: MatchAssumption)] = []
    }

    public var source: Source
    /// Addresses of the namespace: a packet to one of them is delivered locally, else forwarded.
    public var localAddresses: Set<IPAddress>
    /// What matches beyond the headers see: the namespace's addresses with their prefixes, recent
    /// lists; limits under their rate and recent lists empty unless read (each assumption stated).
    public var environment: MatchEnvironment

    public init(source: Source, localAddresses: Set<IPAddress>) {
        self.source = source; self.localAddresses = localAddresses
        environment = Self.predictionEnvironment(localAddresses)
    }

    /// `locallyGenerated` starts at OUTPUT (a packet this host sends) instead of PREROUTING.
    public func predict(_ packet: PacketSummary, iif: String?, oif: String?, ctState: ConntrackState, locallyGenerated: Bool = false) -> Prediction {
        var path = PacketPath(traceID: 0, family: packet.family, time: 0, packet: packet)
        path.iif = iif
        path.oif = oif
        path.conntrack = ConntrackSummary(state: ctState)
        var current = packet
        var state = WalkState(packet: packet, ctState: ctState, environment: environment)
        var hook: Hook = locallyGenerated ? .output : .prerouting
        while true {
            for base in source.baseChains(hook) {
                if base.isNat && ctState != .new { continue }   // NAT sees only a connection's first packet
                switch walk(base.table, base.chain, isNat: base.isNat, hook: hook, packet: &current, path: &path, state: &state) {
                case .final(let verdict):
                    path.verdict = verdict
                    path.decidedBy = path.steps.indices.last
                    return state.prediction(path, unknownAt: nil)
                case .unknown(let step):
                    path.verdict = .unknown
                    return state.prediction(path, unknownAt: step)
                case .accepted:
                    continue
                }
            }
            // Routing decides the next hook.
            switch hook {
            case .prerouting:
                // Multicast is delivered to the groups the host joined, which it does not know.
                if current.dst.isMulticast { state.unknownMatch = "the route of multicast \(current.dst)"; return state.prediction(path, unknownAt: nil) }
                hook = localAddresses.contains(current.dst) ? .input : .forward
            case .forward, .output: hook = .postrouting
            default:
                path.verdict = .accept
                path.decidedBy = PathAssembler.decidingStep(path)
                return state.prediction(path, unknownAt: nil)
            }
        }
    }

    enum Outcome { case accepted, final(PacketVerdict), unknown(PathStep) }

    // size: one loop over the walk's whole state (chain, rule index, call stack, packet, path),
    // ~90 lines: split, each piece would take all five inout and the loop's control flow with them.
    func walk(_ table: Ruleset.TableKey, _ start: String, isNat: Bool, hook: Hook, packet: inout PacketSummary, path: inout PacketPath,
              state: inout WalkState) -> Outcome {
        var stack: [(chain: String, next: Int)] = []
        var chainName = start
        var index = 0
        func step(_ kind: PathStep.Kind, _ verdict: StepVerdict) -> PathStep {
            var s = PathStep(hook: hook, table: table.name, tableFamily: table.family, chain: chainName, kind: kind, verdict: verdict)
            s.chainType = isNat ? .nat : .filter
            return s
        }
        func endOfBase() -> Outcome {
            // Back in the base chain (a goto leaves no caller to return to): its policy decides.
            chainName = start
            let drops = source.policy(table, chainName) == .drop
            path.steps.append(step(.policy, drops ? .drop : .accept))
            return drops ? .final(.drop) : .accepted
        }
        while true {
            let count = source.ruleCount(table, chainName) ?? 0
            if index >= count {
                if let caller = stack.popLast() {
                    path.steps.append(step(.return, .return))
                    chainName = caller.chain
                    index = caller.next
                    continue
                }
                return endOfBase()
            }
            var view = PacketView(path: path, beforeStep: path.steps.count)
            view.src = packet.src; view.dst = packet.dst; view.sport = packet.sport; view.dport = packet.dport
            view.iif = hook == .output || hook == .postrouting ? nil : path.iif
            view.oif = hook == .prerouting || hook == .input ? nil : path.oif
            view.environment = state.environment(path)
            let rule = source.evaluate(table, chainName, index, view)
            var s = step(.rule, .unknown)
            s.rule = index + 1
            s.text = rule.text
            s.handle = rule.handle
            state.note(rule, step: s)   // a rule that fails on an assumption states it too
            if rule.match == .doesNotMatch { index += 1; continue }
            guard rule.match == .matches, let action = rule.action else {
                path.steps.append(s)
                state.unknownMatch = rule.match == .matches ? "the target of `\(rule.text ?? "")`" : rule.unknownMatch
                return .unknown(s)
            }
            state.matched(rule, step: &s)
            switch action {
            case .continue:
                // The kernel reports a matched rule that lets the packet go on (LOG, a counter).
                s.verdict = .continue
                path.steps.append(s)
                index += 1
            case .accept:
                s.verdict = .accept
                path.steps.append(s)
                return .accepted
            case .drop, .reject:
                s.verdict = .drop
                s.rejects = action == .reject
                path.steps.append(s)
                return .final(action == .reject ? .reject : .drop)
            case .queue:
                s.verdict = .queue
                path.steps.append(s)
                return .final(.queue)
            case .return:
                s.kind = .return
                s.verdict = .return
                path.steps.append(s)
                if let caller = stack.popLast() { chainName = caller.chain; index = caller.next; continue }
                return endOfBase()
            case .dnat(let address, let port):
                var rewritten = packet
                if let address { rewritten.dst = address }
                if let port { rewritten.dport = port }
                s.verdict = .accept
                s.nat = NatChange(before: Endpoint(packet), after: Endpoint(rewritten))
                if Endpoint(rewritten) != Endpoint(packet) { state.ctStatus?.insert("dst_nat") }
                path.steps.append(s)
                packet = rewritten
                return .accepted
            case .snat:
                state.ctStatus = nil   // the source it takes is not known here
                s.verdict = .accept
                path.steps.append(s)
                return .accepted
            case .jump(let target), .goto(let target):
                let isGoto: Bool = { if case .goto = action { return true } else { return false } }()
                guard source.ruleCount(table, target) != nil else { return .unknown(s) }
                s.kind = isGoto ? .goto : .jump
                s.verdict = isGoto ? .goto : .jump
                s.target = target
                path.steps.append(s)
                if !isGoto { stack.append((chainName, index + 1)) }
                chainName = target
                index = 0
            }
        }
    }

    /// The packet after `-j DNAT --to-destination a[:p]` or `-j REDIRECT --to-ports p`.
    static func dnat(_ words: [String]) -> RuleVerdict? {
        if let i = words.firstIndex(of: "--to-destination"), i + 1 < words.count {
            let parts = words[i + 1].split(separator: ":")
            guard let address = parts.first.flatMap({ IPAddress(String($0)) }) else { return nil }
            if parts.count == 2 { guard let port = UInt16(parts[1]) else { return nil }; return .dnat(address: address, port: port) }
            return .dnat(address: address, port: nil)
        }
        if let i = words.firstIndex(of: "--to-ports"), i + 1 < words.count, let port = UInt16(words[i + 1]) { return .dnat(address: nil, port: port) }
        return nil
    }

    /// What an iptables rule line does when it matches (nil: a target fwtrace cannot model).
    public static func iptablesAction(_ text: String, chainExists: (String) -> Bool) -> RuleVerdict? {
        let words = Ruleset.splitArguments(text)
        guard let target = IptablesRuleEvaluator.target(text) else { return .continue }
        switch target {
        case "ACCEPT": return .accept
        case "DROP": return .drop
        case "REJECT": return .reject
        case "RETURN": return .return
        case "QUEUE", "NFQUEUE": return .queue
        case "DNAT", "REDIRECT": return dnat(words)
        case "SNAT", "MASQUERADE": return .snat
        case "LOG", "NFLOG", "MARK", "CONNMARK", "CT", "NOTRACK", "TRACE", "TOS", "TTL", "DSCP": return .continue
        // Non-terminal targets that change nothing a later match here reads (TCPMSS: the MSS option).
        case "TCPMSS", "CLASSIFY", "CHECKSUM", "SET", "AUDIT", "SECMARK", "CONNSECMARK", "IDLETIMER", "LED", "ULOG", "HL": return .continue
        default:
            guard chainExists(target) else { return nil }
            return words.contains("-g") ? .goto(target) : .jump(target)
        }
    }
}

extension PathPredictor {
    /// From an iptables-save text (one family): tables at each hook in the kernel's fixed order.
    public init(save: String, family: PacketSummary.Family, localAddresses: Set<IPAddress>) {
        let ruleset = family == .ip ? Ruleset.parse(iptablesSave: save) : Ruleset.parse(iptablesSave: "", ip6tablesSave: save)
        self.init(iptables: ruleset, family: family, localAddresses: localAddresses)
    }

    /// From an iptables ruleset (Ruleset.parse(iptablesSave:ip6tablesSave:), the one iptables-save parser).
    public init(iptables ruleset: Ruleset, family: PacketSummary.Family, localAddresses: Set<IPAddress>) {
        let tableFamily = TableFamily(iptables: family)
        let hookChains: [Hook: String] = [.prerouting: "PREROUTING", .input: "INPUT", .forward: "FORWARD", .output: "OUTPUT", .postrouting: "POSTROUTING"]
        let source = Source(
            baseChains: { hook in
                (Ruleset.iptablesTableOrder[hook] ?? []).compactMap { name in
                    guard let chain = hookChains[hook], ruleset.chain(tableFamily, name, chain) != nil else { return nil }
                    return (Ruleset.TableKey(family: tableFamily, name: name), chain, name == "nat")
                }
            },
            ruleCount: { table, chain in ruleset.chain(tableFamily, table.name, chain)?.rules.count },
            policy: { table, chain in ruleset.chain(tableFamily, table.name, chain)?.policy },
            evaluate: { table, chain, index, view in
                let text = ruleset.chain(tableFamily, table.name, chain)!.rules[index].text ?? ""
                return PathPredictor.iptablesRule(text, handle: nil, view: view) { target in
                    ruleset.chain(tableFamily, table.name, target).map { $0.policy == nil } ?? false
                }
            })
        self.init(source: source, localAddresses: localAddresses)
    }
}
