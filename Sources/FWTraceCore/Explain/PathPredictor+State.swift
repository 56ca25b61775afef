/// What the walk carries from rule to rule besides the packet: the mark, the connection's NAT
/// status, the assumptions made, the match that stopped it.
extension PathPredictor {
    /// The environment a prediction starts from: the namespace's addresses (without prefixes when
    /// only the set is known), limits under their rate and recent lists empty, each stated.
    public static func predictionEnvironment(_ localAddresses: Set<IPAddress>) -> MatchEnvironment {
        var environment = MatchEnvironment()
        environment.localAddresses = localAddresses.compactMap { IPPrefix($0.description) }
            .map { MatchEnvironment.LocalAddress(interface: nil, prefix: $0) }
        environment.assumeUnderRates = true
        environment.assumeRecentEmpty = true
        environment.plainPacket = true
        return environment
    }

    struct WalkState {
        var base: MatchEnvironment
        var original: Endpoint
        var ctState: ConntrackState
        /// The packet mark; nil once a rule set it to what fwtrace cannot compute.
        var mark: UInt32?
        /// The connection's status: what a packet that opens it has (nothing yet, NAT bits as
        /// the path adds them); nil for a packet of an existing connection (not known).
        var ctStatus: Set<String>?
        var assumptions: [(step: PathStep, assumption: MatchAssumption)] = []
        var unknownMatch: String?

        init(packet: PacketSummary, ctState: ConntrackState, environment: MatchEnvironment) {
            base = environment
            original = Endpoint(packet)
            self.ctState = ctState
            mark = environment.mark ?? 0
            ctStatus = ctState == .new ? [] : environment.ctStatus
        }

        /// The environment of the next rule, from the path so far.
        func environment(_ path: PacketPath) -> MatchEnvironment {
            var environment = base
            environment.mark = mark
            environment.ctStatus = ctStatus
            environment.originalTuple = ctState == .new ? original : nil
            environment.matchedRules = path.steps.compactMap { $0.kind == .policy ? nil : $0.text }
            return environment
        }

        /// A rule was evaluated: the assumptions its answer rests on are noted.
        mutating func note(_ rule: EvaluatedRule, step: PathStep) {
            for assumption in rule.assumptions { assumptions.append((step, assumption)) }
        }

        /// A rule matched: its mark is applied (and shown on its step).
        mutating func matched(_ rule: EvaluatedRule, step: inout PathStep) {
            if let effect = rule.mark { mark = mark.flatMap(effect.apply) }
            step.mark = mark ?? 0
        }

        func prediction(_ path: PacketPath, unknownAt: PathStep?) -> Prediction {
            var p = Prediction(path: path, unknownAt: unknownAt)
            p.assumptions = assumptions
            p.unknownMatch = path.verdict == .unknown ? unknownMatch : nil
            return p
        }
    }

    /// One iptables rule line, evaluated: its matches (MatchEvaluation), its action, its mark.
    static func iptablesRule(_ text: String, handle: UInt64?, view: PacketView, chainExists: (String) -> Bool) -> EvaluatedRule {
        let evaluation = IptablesRuleEvaluator.evaluation(text, against: view)
        var rule = EvaluatedRule(match: evaluation.match, action: iptablesAction(text, chainExists: chainExists), text: text, handle: handle)
        rule.assumptions = evaluation.assumptions
        rule.unknownMatch = evaluation.unknownMatch
        rule.mark = MarkEffect(iptablesTarget: text)
        return rule
    }
}

/// How a rule changes the packet mark: `mark = (mark & ~mask) ^ value` (MARK --set-xmark; every
/// MARK option and `meta mark set N` is one), or to a value fwtrace cannot compute.
public enum MarkEffect: Equatable, Sendable {
    case xset(value: UInt32, mask: UInt32)
    case unknown

    func apply(_ mark: UInt32) -> UInt32? {
        guard case .xset(let value, let mask) = self else { return nil }
        return (mark & ~mask) ^ value
    }

    /// The MARK target of an iptables rule line; nil when it has none. CONNMARK --restore-mark
    /// sets the mark from the connection's, not known here.
    init?(iptablesTarget text: String) {
        let target = IptablesRuleEvaluator.target(text)
        guard target == "MARK" || target == "CONNMARK" else { return nil }
        let words = Ruleset.splitArguments(text)
        guard let j = words.lastIndex(of: "-j"), j + 2 < words.count else { self = .unknown; return }
        if target == "CONNMARK" {
            guard words[(j + 2)...].contains("--restore-mark") else { return nil }
            self = .unknown
            return
        }
        guard j + 3 < words.count, let (v, m) = IptablesMatchExtensions.valueMask(words[j + 3]) else { self = .unknown; return }
        switch words[j + 2] {
        case "--set-xmark": self = .xset(value: v, mask: m)
        case "--set-mark": self = .xset(value: v, mask: m | v)
        case "--or-mark": self = .xset(value: v, mask: v)
        case "--and-mark": self = .xset(value: 0, mask: ~v)
        case "--xor-mark": self = .xset(value: v, mask: 0)
        default: self = .unknown
        }
    }
}

extension IPAddress {
    /// 224.0.0.0/4 or ff00::/8.
    var isMulticast: Bool { isV4 ? bytes[0] >> 4 == 0xe : bytes[0] == 0xff }
}
