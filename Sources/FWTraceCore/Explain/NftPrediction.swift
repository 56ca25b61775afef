/// Predictions over a whole nf_tables ruleset: base chains by hook and
/// priority across every table; rules of tables iptables-nft manages are evaluated from their
/// iptables text, native rules with NftRuleEvaluator.
extension PathPredictor {
    public init(nft ruleset: NftRuleset, catalog: RuleCatalog, family: PacketSummary.Family, localAddresses: Set<IPAddress>) {
        let source = Source(
            baseChains: { hook in
                // The catalog's order, the one follow uses (BaseChainOrder.swift).
                catalog.baseChains(at: hook, for: family)
                    .filter { !($0.key.family == .inet && PathAssembler.isFwtraceTable($0.key.table)) }
                    .map { (TableRef(family: $0.key.family, name: $0.key.table), $0.key.chain, $0.type == .nat) }
            },
            ruleCount: { table, chain in ruleset.chain(table.family, table.name, chain)?.rules.count },
            policy: { table, chain in ruleset.chain(table.family, table.name, chain)?.policy },
            evaluate: { table, chain, index, view in
                Self.evaluate(ruleset: ruleset, catalog: catalog, table: table, chain: chain, index: index, view: view)
            })
        self.init(source: source, localAddresses: localAddresses)
    }

    static func evaluate(ruleset: NftRuleset, catalog: RuleCatalog, table: TableRef, chain: String, index: Int, view: PacketView) -> EvaluatedRule {
        let rule = ruleset.chain(table.family, table.name, chain)!.rules[index]
        let known = catalog.rule(family: table.family, table: table.name, handle: rule.handle)
        if let known, known.syntax == .iptables {
            return iptablesRule(known.text, handle: rule.handle, view: view) { target in
                ruleset.chain(table.family, table.name, target).map { $0.hook == nil } ?? false
            }
        }
        return NftRuleEvaluator.evaluatedRule(rule, table: table, in: ruleset, view: view, text: known?.text)
    }
}
