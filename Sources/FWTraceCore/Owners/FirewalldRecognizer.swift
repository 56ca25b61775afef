/// firewalld (1.3.3, Debian 12): everything in `table inet firewalld` (nftables backend), or
/// the iptables backend's chains of the same names without the table prefix.
///
/// Chain names, from src/firewall/core/nftables.py and fw_policy.py `policy_base_chain_name`:
/// `<table>_<IN|OUT|FWD|PRE|POST>_<zone>` for a zone, `…_policy_<name>` for a policy, each with
/// sub-chains `_pre`, `_log`, `_deny`, `_allow`, `_post` (build_policy_chain_rules); the
/// dispatch chains `<table>_<HOOK>_ZONES` hold the bindings (build_zone_source_interface_rules:
/// `iifname "eth0" goto filter_IN_public`, a source address match, a bare `goto` for the default
/// zone). In the allow chains: ports and services (build_policy_ports_rules), protocols, source
/// ports, intra-zone forwarding (build_zone_forward_rules: `oifname … accept`), masquerade in
/// `nat_POST_*_allow`, forward-ports in `nat_PRE_*_allow`; icmp-blocks in `_deny`; rich rules
/// carry a family match (`meta nfproto`) or an address.
struct FirewalldRecognizer: OwnerRecognizer {
    let zones: FirewalldZones
    let isNft: Bool

    init?(facts: OwnerFacts, state: ToolState) {
        isNft = facts.hasChain { $0.family == .inet && $0.table == "firewalld" }
        guard isNft || facts.hasChain(where: { $0.name.hasPrefix("IN_") && $0.name.hasSuffix("_allow") }) else { return nil }
        zones = FirewalldZones(text: state.firewalldZones, xml: state.firewalldZoneXML, services: state.firewalldServices)
    }

    /// A firewalld chain's parts: its zone or policy, and the sub-chain suffix.
    struct ChainName {
        var zone: String?
        var policy: String?
        var direction: String
        var suffix: String?
        var table: String
    }

    static let directions = ["IN", "OUT", "FWD", "PRE", "POST"]
    static let suffixes = ["pre", "log", "deny", "allow", "post"]

    static func parse(_ name: String, table: String) -> ChainName? {
        var rest = Substring(name)
        var table = table
        for prefix in ["filter_", "nat_", "mangle_", "raw_"] where rest.hasPrefix(prefix) {
            table = String(prefix.dropLast()); rest = rest.dropFirst(prefix.count)
        }
        guard let underscore = rest.firstIndex(of: "_"), directions.contains(String(rest[..<underscore])) else { return nil }
        let direction = String(rest[..<underscore])
        var body = String(rest[rest.index(after: underscore)...])
        var suffix: String?
        for s in suffixes where body.hasSuffix("_" + s) { suffix = s; body = String(body.dropLast(s.count + 1)) }
        guard !body.isEmpty else { return nil }
        if body.hasPrefix("policy_") { return ChainName(policy: String(body.dropFirst(7)), direction: direction, suffix: suffix, table: table) }
        return ChainName(zone: body, direction: direction, suffix: suffix, table: table)
    }

    func isFirewalld(_ chain: OwnerFacts.Chain) -> Bool {
        isNft ? chain.family == .inet && chain.table == "firewalld" : Self.parse(chain.name, table: chain.table) != nil
    }

    static func owner(_ name: ChainName, _ element: String? = nil, _ value: String? = nil) -> RuleOwner {
        var fields: [(String, RuleOwner.Value)] = []
        var label = "firewalld"
        if let zone = name.zone { fields.append(("zone", .text(zone))); label += " zone \(zone)" }
        if let policy = name.policy { fields.append(("policy", .text(policy))); label += " policy \(policy)" }
        if let element {
            fields.append(("element", .text(element)))
            label += ": \(element)"
            if let value { fields.append(("value", .text(value))); label += " \(value)" }
        }
        return RuleOwner(.firewalld, fields, label: label)
    }

    func owner(ofChain chain: OwnerFacts.Chain) -> RuleOwner? {
        guard isFirewalld(chain) else { return nil }
        guard let name = Self.parse(chain.name, table: chain.table) else { return RuleOwner(.firewalld, label: "firewalld") }
        return Self.owner(name)
    }

    func owner(of rule: OwnerFacts.Rule, in chain: OwnerFacts.Chain) -> RuleOwner? {
        guard isFirewalld(chain) else { return nil }
        if chain.name.hasSuffix("_ZONES"), let target = rule.target, let zone = Self.parse(target, table: chain.table) {
            return binding(rule, zone: zone)
        }
        guard let name = Self.parse(chain.name, table: chain.table) else { return nil }
        switch name.suffix {
        case nil:
            // The zone's own chain: jumps into its sub-chains, then its target.
            if rule.target != nil { return nil }
            if rule.has("l4proto"), rule.has("icmp") || rule.has("ipv6-icmp") || rule.has("{") { return Self.owner(name, "icmp") }
            let target = name.zone.flatMap { zones.zone($0)?.target } ?? Self.targetWord(rule)
            return Self.owner(name, "target", target)
        case "allow": return allowElement(rule, name)
        case "deny" where rule.has("icmp") || rule.has("icmpv6"):
            if let type = rule.value(after: "type") { return Self.owner(name, "icmp-block", type) }
            return richRule(rule, name)
        default: return richRule(rule, name)
        }
    }

    /// A rule of a `_ZONES` dispatch chain: the interface or source that binds the zone.
    func binding(_ rule: OwnerFacts.Rule, zone: ChainName) -> RuleOwner {
        if let name = rule.value(after: "iifname") ?? rule.value(after: "oifname") ?? rule.value(after: "-i") ?? rule.value(after: "-o") {
            return Self.owner(zone, "interface", name.hasSuffix("*") ? String(name.dropLast()) + "+" : name)
        }
        if let source = rule.value(after: "saddr") ?? rule.value(after: "daddr") ?? rule.value(after: "-s") ?? rule.value(after: "-d") {
            return Self.owner(zone, "source", source)
        }
        return Self.owner(zone, "default zone")
    }

    static func targetWord(_ rule: OwnerFacts.Rule) -> String {
        if rule.has("reject") || rule.has("REJECT") { return "default" }
        if rule.has("drop") || rule.has("DROP") { return "DROP" }
        return rule.has("accept") || rule.has("ACCEPT") ? "ACCEPT" : "default"
    }

    static func port(_ rule: OwnerFacts.Rule) -> (port: String, proto: String)? {
        rule.port.map { ($0.port.replacingOccurrences(of: ":", with: "-"), $0.proto) }
    }

    func allowElement(_ rule: OwnerFacts.Rule, _ name: ChainName) -> RuleOwner? {
        let zone = name.zone ?? name.policy ?? ""
        if rule.has("masquerade") || rule.has("MASQUERADE") {
            return rule.has("nfproto") && !rule.has("saddr") ? Self.owner(name, "masquerade") : richRule(rule, name)
        }
        if rule.has("dnat") || rule.has("redirect") || rule.has("DNAT") || rule.has("REDIRECT") {
            guard let (port, proto) = Self.port(rule) else { return Self.owner(name, "forward-port") }
            let entry = zones.forwardPort(in: zone, port: port, proto: proto) ?? Self.forwardPortText(rule, port: port, proto: proto)
            return Self.owner(name, "forward-port", entry)
        }
        if rule.has("saddr") || rule.has("-s") || (rule.has("nfproto") && name.table == "filter") { return richRule(rule, name) }
        if let (port, proto) = Self.port(rule) {
            let (element, value) = zones.element(port: "\(port)/\(proto)", in: zone)
            return Self.owner(name, element, value)
        }
        if let sport = rule.words.firstIndex(of: "sport"), sport >= 1, sport + 1 < rule.words.count {
            return Self.owner(name, "source-port", "\(rule.words[sport + 1])/\(rule.words[sport - 1])")
        }
        if rule.has("oifname") || rule.has("daddr") { return Self.owner(name, "forward") }
        if let proto = rule.value(after: "l4proto") { return Self.owner(name, "protocol", proto) }
        return nil
    }

    /// `port=8080:proto=tcp:toport=80:toaddr=10.0.0.2`, as `--list-all` prints forward-ports.
    static func forwardPortText(_ rule: OwnerFacts.Rule, port: String, proto: String) -> String {
        var toAddress = "", toPort = ""
        if let to = rule.value(after: "to") ?? rule.value(after: "--to-destination") ?? rule.value(after: "--to-ports") {
            if to.hasPrefix("["), let close = to.firstIndex(of: "]") {
                toAddress = String(to[to.index(after: to.startIndex)..<close])
                toPort = String(to[close...].dropFirst(2))
            } else if to.hasPrefix(":") {
                toPort = String(to.dropFirst())
            } else if let colon = to.lastIndex(of: ":"), to.firstIndex(of: ":") == colon {
                toAddress = String(to[..<colon]); toPort = String(to[to.index(after: colon)...])
            } else if rule.has("redirect") || rule.has("REDIRECT") {
                toPort = to
            } else {
                toAddress = to
            }
        }
        return "port=\(port):proto=\(proto):toport=\(toPort):toaddr=\(toAddress)"
    }

    func richRule(_ rule: OwnerFacts.Rule, _ name: ChainName) -> RuleOwner {
        let zone = name.zone ?? name.policy ?? ""
        var words: [String] = []
        if let source = rule.value(after: "saddr") { words.append(source) }
        if let (port, _) = Self.port(rule) { words.append(port) }
        return Self.owner(name, "rich rule", zones.richRule(in: zone, mentioning: words))
    }
}
