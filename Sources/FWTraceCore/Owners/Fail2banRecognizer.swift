/// fail2ban (1.0.2, Debian 12): the chain `f2b-<jail>` of its iptables actions
/// (config/action.d/iptables.conf: `actionstart` makes `f2b-<name>` ending in `-j RETURN`,
/// `actionban` inserts `-s <ip> -j <blocktype>`, the hook `-A INPUT … -j f2b-<name>`; the
/// ipset actions match `--match-set f2b-<name> src`), its nftables action
/// (config/action.d/nftables.conf: `table inet f2b-table`, chain `f2b-chain`, rules
/// `… saddr @addr-set-<name> reject`, `@addr6-set-<name>` for IPv6), and fail2ban 0.8's `fail2ban-<name>` chains.
/// The jail and a ban's address come from the ruleset itself (`fail2ban-client status JAIL`
/// lists the same addresses).
struct Fail2banRecognizer: OwnerRecognizer {
    init?(facts: OwnerFacts, state: ToolState) {
        guard facts.hasChain(where: { Self.jail(ofChain: $0.name) != nil || ($0.table == "f2b-table") }) ||
              facts.chains.contains(where: { $0.rules.contains { Self.jail(ofSet: $0) != nil } }) else { return nil }
    }

    static func jail(ofChain name: String) -> String? {
        for prefix in ["f2b-", "fail2ban-"] where name.hasPrefix(prefix) && name.count > prefix.count && name != "f2b-chain" {
            return String(name.dropFirst(prefix.count))
        }
        return nil
    }

    /// The jail of a rule that matches one of fail2ban's sets (`@addr-set-<jail>`, ipset `f2b-<jail>`).
    static func jail(ofSet rule: OwnerFacts.Rule) -> String? {
        for prefix in ["@addr-set-", "@addr6-set-"] {
            if let set = rule.words.first(where: { $0.hasPrefix(prefix) }) { return String(set.dropFirst(prefix.count)) }
        }
        if let set = rule.value(after: "--match-set") { return jail(ofChain: set) }
        return nil
    }

    static func owner(jail: String, banned address: String? = nil) -> RuleOwner {
        var fields: [(String, RuleOwner.Value)] = [("jail", .text(jail))]
        if let address { fields.append(("banned", .text(address))) }
        return RuleOwner(.fail2ban, fields, label: "fail2ban jail \(jail)" + (address.map { " ban \($0)" } ?? ""))
    }

    func owner(ofChain chain: OwnerFacts.Chain) -> RuleOwner? {
        if let jail = Self.jail(ofChain: chain.name) { return Self.owner(jail: jail) }
        if chain.table == "f2b-table" { return RuleOwner(.fail2ban, label: "fail2ban") }
        return nil
    }

    func owner(of rule: OwnerFacts.Rule, in chain: OwnerFacts.Chain) -> RuleOwner? {
        if let jail = Self.jail(ofSet: rule) { return Self.owner(jail: jail) }
        guard let jail = Self.jail(ofChain: chain.name) else { return nil }
        // A ban: `-s ADDR -j REJECT` inserted by actionban.
        if let source = rule.value(after: "-s") ?? rule.value(after: "saddr") {
            let address = source.hasSuffix("/32") || source.hasSuffix("/128") ? String(source.prefix { $0 != "/" }) : source
            return Self.owner(jail: jail, banned: address)
        }
        return nil
    }
}
