/// The one place that reads the rule models for the owners: each adapter walks a loaded
/// ruleset's chains and rules into OwnerFacts, once per load. (When the catalog models are
/// replaced, only these two functions change.)
extension OwnerMap {
    /// The nft catalog (iptables-nft's tables in iptables syntax, the rest in nft syntax).
    public convenience init(catalog: RuleCatalog, state: ToolState = ToolState()) {
        var chains: [OwnerFacts.Chain] = []
        for (key, chain) in catalog.chains.sorted(by: { $0.value.listingIndex < $1.value.listingIndex }) {
            let rules = chain.ruleHandles.compactMap { catalog.rule(family: key.family, table: key.table, handle: $0) }
                .map { OwnerFacts.Rule(position: $0.position, text: $0.text) }
            chains.append(OwnerFacts.Chain(family: key.family, table: key.table, name: key.chain,
                                           isBaseChain: chain.isBaseChain, policy: chain.policy, rules: rules))
        }
        self.init(facts: OwnerFacts(chains: chains), state: state)
    }

    /// An iptables-legacy ruleset (positions as `iptables -L --line-numbers` numbers them).
    public convenience init(legacy: LegacyRuleset, state: ToolState = ToolState()) {
        var chains: [OwnerFacts.Chain] = []
        for (key, chain) in legacy.chains.sorted(by: { ($0.key.family == .ip ? 0 : 1, $0.key.table, $0.key.chain) < ($1.key.family == .ip ? 0 : 1, $1.key.table, $1.key.chain) }) {
            chains.append(OwnerFacts.Chain(family: key.family == .ip ? .ip : .ip6, table: key.table, name: key.chain,
                                           isBaseChain: chain.policy != nil, policy: chain.policy,
                                           rules: chain.rules.map { OwnerFacts.Rule(position: $0.position, text: $0.text) }))
        }
        self.init(facts: OwnerFacts(chains: chains), state: state)
    }
}
