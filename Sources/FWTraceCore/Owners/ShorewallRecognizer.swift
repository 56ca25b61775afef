/// Shorewall (5.2.8, Debian 12), which compiles the whole iptables ruleset: every chain of its
/// tables is its own. Names from Shorewall/Chains.pm: `rules_chain` joins a zone pair with
/// ZONE2ZONE (`-` by default, `net-fw`; `2` gives `net2fw`), its `^`, `+`, `_`, `=` and `~`
/// variants (established, related, invalid, untracked, blacklist chains); a pair with `all`
/// is a policy chain (`net-all`, `all-all`); interface and zone chains end in `_in`, `_out`,
/// `_fwd`, `_frwd`, `_input`, `_output`, …; and the marker chain `shorewall`. The zones come from
/// /etc/shorewall/zones where given (the `firewall` zone's name, `fw` by default), else from the
/// pairs that name `fw`.
struct ShorewallRecognizer: OwnerRecognizer {
    let zones: Set<String>
    /// The families it compiled (those where its chains are): all their iptables tables are its.
    let families: Set<TableFamily>
    static let tables: Set<String> = ["filter", "nat", "mangle", "raw", "security"]

    init?(facts: OwnerFacts, state: ToolState) {
        var firewall = "fw"
        var zones: Set<String> = ["all"]
        if let text = state.shorewallZones {
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                guard words.count >= 2 else { continue }
                let zone = String(words[0].prefix { $0 != ":" })
                zones.insert(zone)
                if words[1] == "firewall" { firewall = zone }
            }
        }
        let marked = facts.hasChain { $0.name == "shorewall" }
        for chain in facts.chains {
            guard let (a, b) = Self.pair(chain.name), a == firewall || b == firewall else { continue }
            zones.insert(a); zones.insert(b)
        }
        guard marked || zones.count > 2 else { return nil }
        self.zones = zones
        families = Set(facts.chains.filter { chain in
            chain.name == "shorewall" || Self.pair(chain.name).map { zones.contains($0.0) && zones.contains($0.1) } == true
        }.map(\.family))
    }

    /// `net-fw`, `^net-fw`, `net2fw`, `net-fw~` → ("net", "fw").
    static func pair(_ name: String) -> (String, String)? {
        var body = Substring(name)
        if let first = body.first, "^+_=~".contains(first) { body = body.dropFirst() }
        if body.hasSuffix("~") { body = body.dropLast() }
        for separator in ["-", "2"] {
            let parts = body.components(separatedBy: separator)
            if parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, parts.allSatisfy({ $0.allSatisfy { $0.isLetter || $0.isNumber } }) {
                return (parts[0], parts[1])
            }
        }
        return nil
    }

    func zonePair(_ name: String) -> (String, String)? {
        guard let (a, b) = Self.pair(name), zones.contains(a), zones.contains(b) else { return nil }
        return (a, b)
    }

    func owner(ofChain chain: OwnerFacts.Chain) -> RuleOwner? {
        guard families.contains(chain.family), Self.tables.contains(chain.table) else { return nil }
        guard let (from, to) = zonePair(chain.name) else { return RuleOwner(.shorewall, label: "shorewall") }
        if from == "all" || to == "all" {
            return RuleOwner(.shorewall, [("policy", .text("\(from)→\(to)"))], label: "shorewall policy \(from)→\(to)")
        }
        return RuleOwner(.shorewall, [("from_zone", .text(from)), ("to_zone", .text(to))], label: "shorewall \(from)→\(to)")
    }

    func owner(ofPolicyOf chain: OwnerFacts.Chain) -> RuleOwner? { owner(ofChain: chain) }

    static let policies: Set<String> = ["ACCEPT", "DROP", "REJECT", "reject", "CONTINUE", "QUEUE", "NFQUEUE"]

    func owner(of rule: OwnerFacts.Rule, in chain: OwnerFacts.Chain) -> RuleOwner? {
        guard let (from, to) = zonePair(chain.name), from != "all", to != "all", let target = rule.target,
              rule.position == chain.rules.count else { return nil }
        // A zone pair's end is its policy (`shorewall show policies`: "net => fw DROP using chain
        // net-fw"): inlined as the last, unconditional rule, or a jump into a policy chain.
        if let (pf, pt) = zonePair(target), pf == "all" || pt == "all" {
            return RuleOwner(.shorewall, [("from_zone", .text(from)), ("to_zone", .text(to)), ("policy", .text("\(pf)→\(pt)"))],
                             label: "shorewall \(from)→\(to) policy \(pf)→\(pt)")
        }
        guard rule.isIptables ? rule.words.count == 4 : rule.words.count == 1, Self.policies.contains(target) || Self.policies.contains(rule.words.last ?? "") else {
            return nil
        }
        let policy = target == "reject" ? "REJECT" : target.uppercased()
        return RuleOwner(.shorewall, [("from_zone", .text(from)), ("to_zone", .text(to)), ("policy", .text(policy))],
                         label: "shorewall policy \(from)→\(to) \(policy)")
    }
}
