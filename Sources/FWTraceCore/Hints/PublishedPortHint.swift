/// `published-port`: a container runtime's published port, DNATed in the runtime's nat chain and
/// forwarded, so INPUT rules (ufw's, firewalld's, the admin's) never see it; and how to filter
/// it for real: DOCKER-USER for Docker; for netavark 1.4, the FORWARD chain (where ufw's routed
/// policy drops it until `ufw route allow`). Fixtures/owners/ufw-docker, ufw-podman, podman.
extension HintEngine {
    static func publishedPort(_ path: PacketPath, _ context: HintContext) -> Hint? {
        guard path.steps.indices.contains(where: { path.steps[$0].hook == .forward }),
              let natIndex = path.steps.indices.first(where: { i in
                  let s = path.steps[i]
                  guard let nat = s.nat, nat.before.dst != nat.after.dst || nat.before.dport != nat.after.dport else { return false }
                  return s.owner?.manager == .docker || s.owner?.manager == .podman
              }),
              let nat = path.steps[natIndex].nat, let runtime = path.steps[natIndex].owner,
              let proto = OwnerFix.protocolName(path.packet.protocolNumber), let hostPort = nat.before.dport,
              let index = path.decidedBy else { return nil }
        let d = path.steps[index]
        let published = "\(nat.before.dst):\(hostPort)/\(proto)"
        let to = nat.after.dport.map { "\(nat.after.dst):\($0)" } ?? nat.after.dst.description
        var evidence: [(String, String)] = [("runtime", runtime.manager.rawValue), ("published", published), ("to", to),
                                            ("nat_chain", place(path.steps[natIndex])), ("decided_by", "\(place(d)) \(d.rule.map { "rule \($0)" } ?? "policy")")]
        let denied = inputDenial(path, natIndex, context)
        if let denied { evidence.append(("input_denies", denied)) }
        let who = "the published port \(published) (\(runtime.label))"
        let hostFirewalls: Set<RuleOwner.Manager> = [.ufw, .firewalld, .shorewall]
        if path.verdict == .accept, !hostFirewalls.contains(d.owner?.manager ?? .docker) {
            let unseen = denied.map { " \($0) would deny it, but INPUT rules never see a forwarded packet." } ?? " INPUT rules never see it."
            let (fix, how) = filterFix(runtime.manager, path: path, hostPort: hostPort, proto: proto, to: to)
            evidence.append(("fix", fix))
            return Hint(code: "published-port",
                        message: "\(who) is reachable: \(place(path.steps[natIndex])) DNATs it to \(to) and the packet is forwarded, and \(place(d)) \(ruleRef(d)) accepted it.\(unseen) \(how)",
                        evidence: evidence)
        }
        guard path.verdict == .drop || path.verdict == .reject, runtime.manager == .podman, d.owner?.manager == .ufw,
              let port = nat.after.dport else { return nil }
        let fix = "ufw route allow proto \(proto) from any to \(nat.after.dst) port \(port)"
        evidence.append(("fix", fix))
        return Hint(code: "published-port",
                    message: "\(who) is DNATed to \(to) and forwarded; netavark 1.4 accepts in FORWARD only its container network's own traffic and replies, so ufw's forward rules decide, and \(place(d)) \(ruleRef(d)) (\(d.owner?.label ?? "ufw")) dropped it. ufw's INPUT rules (`ufw allow`/`ufw deny` of the port) never apply to it. To make it reachable, route it with ufw: `\(fix)`",
                    evidence: evidence)
    }

    /// How to filter the published port where the runtime leaves it to the admin.
    static func filterFix(_ runtime: RuleOwner.Manager, path: PacketPath, hostPort: UInt16, proto: String, to: String) -> (String, String) {
        let iptables = path.family == .ip6 ? "ip6tables" : "iptables"
        let iif = path.iif.map { " -i \($0)" } ?? ""
        let match = "-p \(proto) -m conntrack --ctorigdstport \(hostPort) --ctdir ORIGINAL -j DROP"
        let containerPort = to.split(separator: ":").last.map(String.init) ?? String(hostPort)
        if runtime == .docker {
            let fix = "\(iptables) -I DOCKER-USER\(iif) \(match)"
            return (fix, "Docker's FORWARD rules come before the host firewall's (ufw, firewalld), so filter it in DOCKER-USER, the chain FORWARD checks first and Docker leaves to you: `\(fix)` (allow chosen clients with an ACCEPT inserted before it; Docker does not save DOCKER-USER, so restore it at boot with your own rules), or publish it only where it should be reachable: `docker run -p 127.0.0.1:\(hostPort):\(containerPort) …`")
        }
        let fix = "\(iptables) -I FORWARD\(iif) \(match)"
        return (fix, "netavark 1.4 has no chain of yours (Docker's DOCKER-USER) and its NETAVARK_FORWARD accepts only the container network's own traffic, so the FORWARD chain's rules and policy decide: filter it there, `\(fix)` (with ufw, its FORWARD DROP policy blocks it until `ufw route allow`), or publish it only where it should be reachable: `podman run -p 127.0.0.1:\(hostPort):\(containerPort) …`")
    }

    /// A ufw rule or an INPUT rule that would deny the packet as it arrived (before the DNAT).
    static func inputDenial(_ path: PacketPath, _ natIndex: Int, _ context: HintContext) -> String? {
        let view = PacketView(path: path, beforeStep: natIndex)
        let family: TableFamily = path.family == .ip6 ? .ip6 : .ip
        for chain in [family == .ip6 ? "ufw6-user-input" : "ufw-user-input", "INPUT"] {
            for rule in context.rules(family, "filter", chain) where rule.isIptables {
                guard ["DROP", "REJECT"].contains(IptablesRuleEvaluator.target(rule.text) ?? ""),
                      rule.text.contains("--dport") || rule.text.contains("--dports"),
                      IptablesRuleEvaluator.evaluate(rule.text, against: view) == .matches else { continue }
                if let t = context.toolState.ufw.tuple(chain: chain, position: rule.position) {
                    return "ufw rule \(t.number) (`\(UfwStatusText.render(t))`)"
                }
                return "filter/\(chain) rule \(rule.position) (`\(rule.text)`)"
            }
        }
        return nil
    }
}
