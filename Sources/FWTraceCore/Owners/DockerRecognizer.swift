/// Docker (moby, libnetwork's iptables driver, as in Docker 20.10–27:
/// libnetwork/drivers/bridge/setup_ip_tables.go and libnetwork/iptables/iptables.go): chains
/// DOCKER (nat: a published port's `! -i docker0 -p tcp --dport 8080 -j DNAT --to-destination
/// 172.17.0.2:80`; filter: its `-d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp --dport 80
/// -j ACCEPT`), DOCKER-ISOLATION-STAGE-1/2, DOCKER-FORWARD / DOCKER-BRIDGE / DOCKER-CT (Docker
/// 28), and the hooks in FORWARD, PREROUTING, OUTPUT and POSTROUTING that name DOCKER chains or
/// a Docker bridge (`docker0`, `br-<12 hex>`). DOCKER-USER is Docker's chain for the admin's
/// own rules: its rules stay the admin's, the jump into it and its closing RETURN are Docker's.
/// Docker 29's nftables driver writes `table ip docker-bridges` / `ip6 docker-bridges`. The
/// container's name comes from `docker inspect`, where given (by its address).
struct DockerRecognizer: OwnerRecognizer {
    /// "172.17.0.2:80/tcp" → "8080/tcp": a DNAT's destination → the published port.
    let published: [String: String]
    let containers: ContainerState

    init?(facts: OwnerFacts, state: ToolState) {
        guard facts.hasChain(where: { Self.isDockerChain($0) }) else { return nil }
        var published: [String: String] = [:]
        for chain in facts.chains where Self.isDockerChain(chain) {
            for rule in chain.rules {
                if let (port, proto) = rule.port, let to = rule.dnatDestination { published["\(to)/\(proto)"] = "\(port)/\(proto)" }
            }
        }
        self.published = published
        containers = ContainerState(state.containers)
    }

    static func isDockerChain(_ chain: OwnerFacts.Chain) -> Bool {
        (chain.name.hasPrefix("DOCKER") && chain.name != "DOCKER-USER") || chain.table == "docker-bridges"
    }

    static func isDockerBridge(_ name: String) -> Bool {
        name == "docker0" || (name.hasPrefix("br-") && name.count == 15)
    }

    func owner(ofChain chain: OwnerFacts.Chain) -> RuleOwner? {
        Self.isDockerChain(chain) ? RuleOwner(.docker, label: "docker") : nil
    }

    func owner(of rule: OwnerFacts.Rule, in chain: OwnerFacts.Chain) -> RuleOwner? {
        if chain.name == "DOCKER-USER" {
            return rule.words.count <= 4 && rule.target == "RETURN" ? RuleOwner(.docker, label: "docker") : nil
        }
        if !Self.isDockerChain(chain) {
            let bridge = [rule.value(after: "-o"), rule.value(after: "-i"), rule.value(after: "oifname"), rule.value(after: "iifname")]
                .compactMap { $0 }.first(where: Self.isDockerBridge)
            if let target = rule.target, target.hasPrefix("DOCKER") { return RuleOwner(.docker, label: "docker") }
            return bridge.map { RuleOwner(.docker, [("network", .text($0))], label: "docker network \($0)") }
        }
        guard let (port, proto) = rule.port else { return nil }
        if let to = rule.dnatDestination { return owner(published: "\(port)/\(proto)", to: to) }
        // A published port's filter rule: `-d 172.17.0.2/32 … --dport 80 -j ACCEPT`.
        guard let destination = rule.value(after: "-d") ?? rule.value(after: "daddr") else { return nil }
        let address = String(destination.prefix { $0 != "/" })
        let to = address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
        return owner(published: published["\(to)/\(proto)"], to: to)
    }

    func owner(published: String?, to: String) -> RuleOwner {
        let container = containers.container(address: ContainerState.address(of: to))
        var fields: [(String, RuleOwner.Value)] = []
        if let container {
            if !container.name.isEmpty { fields.append(("container", .text(container.name))) }
            fields.append(("container_id", .text(container.id)))
        }
        if let published { fields.append(("port", .text(published))) }
        fields.append(("to", .text(to)))
        let who = container.map { $0.name.isEmpty ? String($0.id.prefix(12)) : $0.name }
        let hostPort = published.map { String($0.prefix { $0 != "/" }) }
        let label = "docker " + (who.map { "\($0):" } ?? "") + (hostPort.map { "\($0)→" } ?? "→") + ContainerState.port(of: to)
        return RuleOwner(.docker, fields, label: label)
    }
}
