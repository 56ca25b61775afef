/// Predictions over a whole nf_tables ruleset (filled from the text listing, iptables-nft-save and
/// the JSON listing): base chains by hook in the kernel's order across every table; rules of
/// tables iptables-nft manages are evaluated from their iptables text, native rules with
/// NftRuleEvaluator.
extension PathPredictor {
    public init(nft ruleset: Ruleset, family: PacketSummary.Family, localAddresses: Set<IPAddress>) {
        let source = Source(
            baseChains: { hook in
                // The order follow uses (BaseChainOrder.swift).
                ruleset.baseChains(at: hook, for: family)
                    .filter { !($0.key.family == .inet && PathAssembler.isFwtraceTable($0.key.table)) }
                    .map { (Ruleset.TableKey(family: $0.key.family, name: $0.key.table), $0.key.chain, $0.type == .nat) }
            },
            ruleCount: { table, chain in ruleset.chain(table.family, table.name, chain)?.rules.count },
            policy: { table, chain in ruleset.chain(table.family, table.name, chain)?.policy },
            evaluate: { table, chain, index, view in
                Self.evaluate(ruleset: ruleset, table: table, chain: chain, index: index, view: view)
            })
        self.init(source: source, localAddresses: localAddresses)
    }

    static func evaluate(ruleset: Ruleset, table: Ruleset.TableKey, chain: String, index: Int, view: PacketView) -> EvaluatedRule {
        let rule = ruleset.chain(table.family, table.name, chain)!.rules[index]
        if rule.syntax == .iptables, let text = rule.text {
            return iptablesRule(text, handle: rule.handle, view: view) { target in
                ruleset.chain(table.family, table.name, target).map { $0.hook == nil } ?? false
            }
        }
        return NftRuleEvaluator.evaluatedRule(rule, table: table, in: ruleset, view: view)
    }
}
