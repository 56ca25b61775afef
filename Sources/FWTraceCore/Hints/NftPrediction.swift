/// Predictions and hint evaluation over a whole nf_tables ruleset: base chains by hook and
/// priority across every table; rules of tables iptables-nft manages are evaluated from their
/// iptables text, native rules with NftRuleEvaluator.
extension PathPredictor {
    public init(nft ruleset: NftRuleset, catalog: RuleCatalog, family: PacketSummary.Family, localAddresses: Set<IPAddress>) {
        let source = Source(
            baseChains: { hook in
                ruleset.baseChains(at: hook, for: family)
                    .filter { !($0.family == .inet && PathAssembler.isFwtraceTable($0.table)) }
                    .map { (TableRef(family: $0.family, name: $0.table), $0.name, $0.type == "nat") }
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
            let action = iptablesAction(known.text) { target in
                ruleset.chain(table.family, table.name, target).map { $0.hook == nil } ?? false
            }
            return EvaluatedRule(match: IptablesRuleEvaluator.evaluate(known.text, against: view), action: action,
                                 text: known.text, handle: rule.handle)
        }
        let (match, verdict) = NftRuleEvaluator.evaluate(rule, table: table.name, tableFamily: table.family, in: ruleset, packet: view)
        return EvaluatedRule(match: match, action: RuleAction(verdict), text: known?.text, handle: rule.handle)
    }
}

extension PathPredictor.RuleAction {
    init(_ verdict: NftVerdict) {
        switch verdict {
        case .continue: self = .continue
        case .accept: self = .accept
        case .drop: self = .drop
        case .reject: self = .reject
        case .return: self = .return
        case .queue: self = .queue
        case .snat: self = .snat
        case .jump(let chain): self = .jump(chain)
        case .goto(let chain): self = .goto(chain)
        case .dnat(let address, let port): self = .dnat(address, port)
        }
    }
}

extension HintContext {
    /// Native nft rules evaluated for shadowed-rule: whether a rule (by position) matches the
    /// packet and accepts it.
    public mutating func evaluateNativeRules(with ruleset: NftRuleset) {
        nativeRuleAccepts = { family, table, chain, position, view in
            guard let rule = ruleset.chain(family, table, chain)?.rules.first(where: { $0.position == position }) else { return .unknown }
            let (match, verdict) = NftRuleEvaluator.evaluate(rule, table: table, tableFamily: family, in: ruleset, packet: view)
            guard match == .matches else { return match }
            return verdict == .accept ? .matches : .doesNotMatch
        }
    }
}
