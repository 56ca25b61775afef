/// ufw (0.36.2, Debian 12): its chains are `ufw-*` (IPv4) and `ufw6-*` (IPv6).
///
/// Which file writes which chain, from ufw's sources: user.rules / user6.rules
/// (src/backend_iptables.py `_write_rules`: ufw-user-*, ufw-before-logging-*,
/// ufw-after-logging-*, ufw-logging-deny/allow, ufw-user-limit*, ufw-user-logging-*),
/// before.rules / before6.rules (ufw-before-input/output/forward, ufw-not-local), after.rules /
/// after6.rules (ufw-after-input/output/forward), and ufw's init script
/// (/lib/ufw/ufw-init-functions: ufw-reject-*, ufw-track-*, ufw-skip-to-policy-*, and the jumps
/// from INPUT/OUTPUT/FORWARD into ufw's chains). The filter table's INPUT/OUTPUT/FORWARD policies
/// are ufw's defaults (`ufw default deny incoming`, `ufw status verbose`: "deny (incoming)").
/// User rules get the number and text of `ufw status numbered` (UfwUserRules).
struct UfwRecognizer: OwnerRecognizer {
    let user: UfwUserRules
    let statusTexts: [Int: String]

    init?(facts: OwnerFacts, state: ToolState) {
        guard facts.hasChain(where: { Self.isUfwChain($0.name) }) else { return nil }
        user = UfwUserRules(v4: state.ufwUserRules, v6: state.ufwUserRules6)
        statusTexts = state.ufwStatusNumbered.map(UfwStatusText.parse) ?? [:]
    }

    static func isUfwChain(_ name: String) -> Bool { name.hasPrefix("ufw-") || name.hasPrefix("ufw6-") }

    static func file(ofChain name: String) -> String {
        let v6 = name.hasPrefix("ufw6-")
        let role = name.dropFirst(v6 ? 5 : 4)
        let suffix = v6 ? "6.rules" : ".rules"
        if role.hasPrefix("before-logging-") || role.hasPrefix("after-logging-") || role.hasPrefix("user-") || role.hasPrefix("logging-") {
            return "user" + suffix
        }
        if role.hasPrefix("before-") || role == "not-local" { return "before" + suffix }
        if role.hasPrefix("after-") { return "after" + suffix }
        return "ufw-init"
    }

    func owner(ofChain chain: OwnerFacts.Chain) -> RuleOwner? {
        guard Self.isUfwChain(chain.name) else { return nil }
        let file = Self.file(ofChain: chain.name)
        return RuleOwner(.ufw, [("file", .text(file))], label: file == "ufw-init" ? "ufw init script" : "ufw \(file)")
    }

    func owner(ofPolicyOf chain: OwnerFacts.Chain) -> RuleOwner? {
        guard chain.table == "filter", let policy = chain.policy else { return nil }
        let direction: String
        switch chain.name {
        case "INPUT", "input": direction = "incoming"
        case "OUTPUT", "output": direction = "outgoing"
        case "FORWARD", "forward": direction = "routed"
        default: return nil
        }
        let word = policy.lowercased() == "drop" ? "deny" : policy.lowercased() == "accept" ? "allow" : policy.lowercased()
        let text = "\(word) (\(direction))"
        return RuleOwner(.ufw, [("default", .text(text))], label: "ufw default \(text)")
    }

    func owner(of rule: OwnerFacts.Rule, in chain: OwnerFacts.Chain) -> RuleOwner? {
        if Self.isUfwChain(chain.name) {
            guard let tuple = user.tuple(chain: chain.name, position: rule.position) else { return nil }
            let text = statusTexts[tuple.number] ?? UfwStatusText.render(tuple)
            return RuleOwner(.ufw, [("rule", .number(tuple.number)), ("text", .text(text)), ("file", .text(tuple.v6 ? "user6.rules" : "user.rules"))],
                             label: "ufw rule \(tuple.number): \(text)")
        }
        if chain.isBaseChain, let target = rule.target, Self.isUfwChain(target) {
            return RuleOwner(.ufw, [("file", "ufw-init")], label: "ufw init script")
        }
        return nil
    }
}
