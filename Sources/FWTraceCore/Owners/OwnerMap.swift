/// A manager's recogniser: from the ruleset (and the tool's state, where given) it names the
/// owner of the chains and rules that tool wrote. One small file per tool; pure, no I/O.
protocol OwnerRecognizer {
    /// nil when the ruleset holds nothing of this tool.
    init?(facts: OwnerFacts, state: ToolState)
    /// The chain is the tool's: its rules, its end and its policy are, unless said otherwise.
    func owner(ofChain chain: OwnerFacts.Chain) -> RuleOwner?
    /// A base chain's policy, when the tool sets it (ufw's default policies).
    func owner(ofPolicyOf chain: OwnerFacts.Chain) -> RuleOwner?
    /// One rule, with the tool's identity of it; nil leaves it to its chain's owner.
    func owner(of rule: OwnerFacts.Rule, in chain: OwnerFacts.Chain) -> RuleOwner?
}

extension OwnerRecognizer {
    func owner(ofPolicyOf chain: OwnerFacts.Chain) -> RuleOwner? { nil }
}

/// The owner of every rule and chain of one loaded ruleset, computed once per load (never per
/// event). The assemblers copy an owner reference into their per-rule and per-chain objects.
public final class OwnerMap: Sendable {
    public struct ChainID: Hashable, Sendable {
        public var family: TableFamily
        public var table: String
        public var chain: String
        public init(_ family: TableFamily, _ table: String, _ chain: String) {
            self.family = family; self.table = table; self.chain = chain
        }
    }

    struct ChainOwners: Sendable {
        /// Owner of the chain's rules that have none of their own, and of its implicit end.
        var chain: RuleOwner?
        var policy: RuleOwner?
        /// By position - 1.
        var rules: [RuleOwner?]
    }

    let chains: [ChainID: ChainOwners]

    public static let empty = OwnerMap(chains: [:])

    init(chains: [ChainID: ChainOwners]) { self.chains = chains }

    /// The recognisers, in the order they are asked (the first answer wins).
    static var recognizers: [any OwnerRecognizer.Type] { [
        UfwRecognizer.self, FirewalldRecognizer.self, Fail2banRecognizer.self, NetavarkRecognizer.self,
        DockerRecognizer.self, KubeProxyRecognizer.self, LibvirtRecognizer.self, ShorewallRecognizer.self,
    ] }

    public convenience init(facts: OwnerFacts, state: ToolState = ToolState()) {
        let active = Self.recognizers.compactMap { $0.init(facts: facts, state: state) }
        guard !active.isEmpty else { self.init(chains: [:]); return }
        var chainOwner: [ChainID: RuleOwner] = [:]
        for chain in facts.chains {
            if let owner = active.lazy.compactMap({ $0.owner(ofChain: chain) }).first {
                chainOwner[ChainID(chain.family, chain.table, chain.name)] = owner
            }
        }
        var out: [ChainID: ChainOwners] = [:]
        for chain in facts.chains {
            let id = ChainID(chain.family, chain.table, chain.name)
            let own = chainOwner[id]
            let rules: [RuleOwner?] = chain.rules.map { rule in
                if let named = active.lazy.compactMap({ $0.owner(of: rule, in: chain) }).first { return named }
                if let own { return own }
                // A jump into a tool's chain from a chain of nobody's is the tool's hook.
                guard let target = rule.target else { return nil }
                return chainOwner[ChainID(chain.family, chain.table, target)]
            }
            let policy = chain.isBaseChain ? active.lazy.compactMap({ $0.owner(ofPolicyOf: chain) }).first ?? own : nil
            if own != nil || policy != nil || rules.contains(where: { $0 != nil }) {
                out[id] = ChainOwners(chain: own, policy: policy, rules: rules)
            }
        }
        self.init(chains: out)
    }

    public var isEmpty: Bool { chains.isEmpty }

    /// The owner of the rule at `position` (1-based) in the chain.
    public func owner(_ family: TableFamily, _ table: String, _ chain: String, position: Int) -> RuleOwner? {
        guard let owners = chains[ChainID(family, table, chain)], position >= 1, position <= owners.rules.count else {
            return chains[ChainID(family, table, chain)]?.chain
        }
        return owners.rules[position - 1]
    }

    /// The owner of a chain's implicit end (a return step) and of its rules that have none.
    public func chainOwner(_ family: TableFamily, _ table: String, _ chain: String) -> RuleOwner? {
        chains[ChainID(family, table, chain)]?.chain
    }

    /// Puts the owners on a path made without the assemblers (explain's predicted path): a
    /// lookup per step, for one path, not the per-event way.
    public func annotate(_ path: inout PacketPath) {
        guard !isEmpty else { return }
        for i in path.steps.indices {
            let s = path.steps[i]
            switch s.kind {
            case .policy: path.steps[i].owner = policyOwner(s.tableFamily, s.table, s.chain)
            default:
                path.steps[i].owner = s.rule.map { owner(s.tableFamily, s.table, s.chain, position: $0) } ?? chainOwner(s.tableFamily, s.table, s.chain)
            }
        }
    }

    /// The owner of a base chain's policy.
    public func policyOwner(_ family: TableFamily, _ table: String, _ chain: String) -> RuleOwner? {
        chains[ChainID(family, table, chain)]?.policy
    }
}
