/// follow with several namespaces: in a namespace after a DNAT, the packet the user named
/// (`--dport 8080`) arrives rewritten (dport 80 to the container), so the trace rules there also
/// match what the traced namespaces' DNAT rules make of it. Read from the rules' text with
/// OwnerFacts' words (`--to-destination A:P`, `dnat ip to A:P`); a DNAT through a map is not seen.
extension TraceFilter {
    /// The filter as each DNAT rule in `rulesets` whose matched port meets it rewrites it.
    public func rewrittenByDNAT(in rulesets: [Ruleset]) -> [TraceFilter] {
        var out: [TraceFilter] = []
        for ruleset in rulesets {
            for chain in ruleset.chainsInListingOrder {
                for rule in chain.rules {
                    guard let text = rule.text else { continue }
                    let facts = OwnerFacts.Rule(position: rule.position, text: text)
                    guard let to = facts.dnatDestination, let target = Self.dnatTarget(to) else { continue }
                    if let dport, let matched = facts.port, let port = UInt16(matched.port), !dport.contains(port) { continue }
                    var rewritten = self
                    rewritten.dst = IPPrefix(target.address.description)
                    let family: PacketSummary.Family = target.address.isV4 ? .ip : .ip6
                    guard rewritten.families.contains(family) else { continue }
                    rewritten.families = [family]
                    if let port = target.port { rewritten.dport = .single(port) }
                    if !out.contains(rewritten) && rewritten != self { out.append(rewritten) }
                }
            }
        }
        return out
    }

    /// `10.88.0.2:80`, `10.88.0.2`, `[fd00::2]:80`.
    static func dnatTarget(_ text: String) -> (address: IPAddress, port: UInt16?)? {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            guard let address = IPAddress(String(text[text.index(after: text.startIndex)..<close])) else { return nil }
            let rest = text[text.index(after: close)...]
            return (address, rest.hasPrefix(":") ? UInt16(rest.dropFirst()) : nil)
        }
        let parts = text.split(separator: ":")
        if parts.count == 2, let address = IPAddress(String(parts[0])) { return (address, UInt16(parts[1])) }
        guard let address = IPAddress(text) else { return nil }
        return (address, nil)
    }
}
