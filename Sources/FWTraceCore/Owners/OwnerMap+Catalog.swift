/// The one place that reads the rule model for the owners: the adapter walks a loaded
/// ruleset's chains and rules into OwnerFacts, once per load, and adoptOwners puts the answers
/// back on the ruleset's chains and rules, where the assemblers find them with the rule.
extension OwnerMap {
    /// Any ruleset (nft's text listing with iptables-nft's tables, or iptables-legacy-save);
    /// positions as `iptables -L --line-numbers` numbers them.
    public convenience init(ruleset: Ruleset, state: ToolState = ToolState()) {
        var chains: [OwnerFacts.Chain] = []
        for chain in ruleset.chainsInListingOrder {
            let key = chain.key
            let policy = chain.policy.map { $0 == .drop ? "DROP" : "ACCEPT" }
            chains.append(OwnerFacts.Chain(family: key.family, table: key.table, name: key.chain,
                                           isBaseChain: chain.isBaseChain || chain.policy != nil, policy: policy,
                                           rules: chain.rules.compactMap { rule in
                                               rule.text.map { OwnerFacts.Rule(position: rule.position, text: $0) }
                                           }))
        }
        self.init(facts: OwnerFacts(chains: chains), state: state)
    }
}

extension Ruleset {
    /// Puts each rule's and chain's owner where the assemblers find it with the rule: computed
    /// once per load, so that no step looks it up.
    public mutating func adoptOwners(_ owners: OwnerMap) {
        guard !owners.isEmpty else { return }
        for (key, chain) in chains {
            var updated = chain
            updated.owner = owners.chainOwner(key.family, key.table, key.chain)
            updated.policyOwner = owners.policyOwner(key.family, key.table, key.chain)
            for i in updated.rules.indices {
                updated.rules[i].owner = owners.owner(key.family, key.table, key.chain, position: updated.rules[i].position)
            }
            chains[key] = updated
        }
        index()
    }

    /// This ruleset with the owners the tools' state names adopted, and that state kept (`tools`)
    /// for the hints, which speak in the same terms.
    public func withOwners(_ state: ToolState) -> Ruleset {
        var copy = self
        copy.adoptOwners(OwnerMap(ruleset: self, state: state))
        copy.tools = state
        return copy
    }
}
