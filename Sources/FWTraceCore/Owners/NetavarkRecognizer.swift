/// Podman's netavark (1.4.0, Debian 12; its only firewall driver there is iptables):
/// src/firewall/varktables/types.rs names the chains NETAVARK_FORWARD, NETAVARK_INPUT,
/// NETAVARK_ISOLATION_1/2, NETAVARK-HOSTPORT-DNAT / -SETMARK / -MASQ, NETAVARK-<hash> (a
/// network's masquerade) and NETAVARK-DN-<hash> (a network's port forwards). Each published port
/// is a rule `-p tcp --dport 8080 -m comment --comment 'dnat name: <network> id: <container id>'
/// -j NETAVARK-DN-<hash>` in NETAVARK-HOSTPORT-DNAT and a `-j DNAT --to-destination IP:PORT
/// --destination-port 8080` in the DN chain. Later netavark's nftables driver writes
/// `table inet netavark`. The container's name comes from `podman ps --format json` / `podman
/// inspect`, where given.
struct NetavarkRecognizer: OwnerRecognizer {
    struct Forward { var network: String; var id: String }
    /// "8080/tcp" → the container behind it (from the DNAT chain's comments).
    let forwards: [String: Forward]
    /// "8080/tcp" → "10.88.0.2:80".
    let destinations: [String: String]
    let containers: ContainerState

    init?(facts: OwnerFacts, state: ToolState) {
        guard facts.hasChain(where: { Self.isNetavark($0) }) else { return nil }
        var forwards: [String: Forward] = [:], destinations: [String: String] = [:]
        for chain in facts.chains where Self.isNetavark(chain) {
            for rule in chain.rules {
                guard let (port, proto) = rule.port else { continue }
                if let comment = rule.comment, let forward = Self.parse(comment) { forwards["\(port)/\(proto)"] = forward }
                if let to = rule.dnatDestination { destinations["\(port)/\(proto)"] = to }
            }
        }
        self.forwards = forwards; self.destinations = destinations
        containers = ContainerState(state.containers)
    }

    static func isNetavark(_ chain: OwnerFacts.Chain) -> Bool {
        chain.name.hasPrefix("NETAVARK") || chain.table == "netavark"
    }

    /// "dnat name: podman id: 7c3…"
    static func parse(_ comment: String) -> Forward? {
        guard comment.hasPrefix("dnat name: "), let id = comment.range(of: " id: ") else { return nil }
        return Forward(network: String(comment[comment.index(comment.startIndex, offsetBy: 11)..<id.lowerBound]),
                       id: String(comment[id.upperBound...]))
    }

    func owner(ofChain chain: OwnerFacts.Chain) -> RuleOwner? {
        Self.isNetavark(chain) ? RuleOwner(.podman, label: "podman") : nil
    }

    func owner(of rule: OwnerFacts.Rule, in chain: OwnerFacts.Chain) -> RuleOwner? {
        if !Self.isNetavark(chain) {
            guard let target = rule.target, target.hasPrefix("NETAVARK") else { return nil }
            return RuleOwner(.podman, label: "podman")
        }
        guard let (port, proto) = rule.port else { return nil }
        let key = "\(port)/\(proto)"
        guard let forward = forwards[key] else {
            return destinations[key].map { RuleOwner(.podman, [("port", .text(key)), ("to", .text($0))], label: "podman \(port)→\(ContainerState.port(of: $0))") }
        }
        let container = containers.container(id: forward.id)
        var fields: [(String, RuleOwner.Value)] = []
        if let name = container?.name, !name.isEmpty { fields.append(("container", .text(name))) }
        fields.append(("container_id", .text(forward.id)))
        fields.append(("network", .text(forward.network)))
        fields.append(("port", .text(key)))
        let to = destinations[key]
        if let to { fields.append(("to", .text(to))) }
        let who = container?.name.isEmpty == false ? container!.name : String(forward.id.prefix(12))
        return RuleOwner(.podman, fields, label: "podman \(who):\(port)" + (to.map { "→" + ContainerState.port(of: $0) } ?? ""))
    }
}
