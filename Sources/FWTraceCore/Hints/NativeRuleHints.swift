extension HintContext {
    /// Native nft rules evaluated for shadowed-rule: whether a rule (by position) matches the
    /// packet and accepts it.
    public mutating func evaluateNativeRules(with ruleset: Ruleset) {
        nativeRuleAccepts = { family, table, chain, position, view in
            guard let rule = ruleset.chain(family, table, chain)?.rules.first(where: { $0.position == position }) else { return .unknown }
            let (match, verdict) = NftRuleEvaluator.evaluate(rule, table: table, tableFamily: family, in: ruleset, packet: view)
            guard match == .matches else { return match }
            return verdict == .accept ? .matches : .doesNotMatch
        }
    }
}
