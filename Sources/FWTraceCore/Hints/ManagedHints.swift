/// Hints about what the firewall managers did (issue 14 item 3; docs/hints.md): a ban, a
/// service without endpoints, a zone that took the packet, a published container port.
extension HintEngine {
    /// fail2ban's jail dropped or rejected the client.
    static func banned(_ path: PacketPath, _ context: HintContext) -> Hint? {
        guard path.verdict == .drop || path.verdict == .reject, let d = path.decidingStep,
              let owner = d.owner, owner.manager == .fail2ban, let jail = owner.text("jail") else { return nil }
        let address = owner.text("banned") ?? path.packet.src.description
        let fix = "fail2ban-client set \(jail) unbanip \(address)"
        var evidence: [(String, String)] = [("jail", jail), ("address", address), ("chain", place(d)), ("rule", d.rule.map(String.init) ?? "")]
        var when = ""
        if let ban = context.toolState.bans[jail]?[address] {
            evidence += [("since", ban.since), ("until", ban.until)]
            when = " since \(ban.since) (until \(ban.until))"
        }
        evidence.append(("fix", fix))
        return Hint(code: "banned",
                    message: "\(address) is banned by fail2ban's jail \(jail)\(when): \(place(d)) \(ruleRef(d)) \(path.verdict == .reject ? "rejects" : "drops") it. Check `fail2ban-client status \(jail)`; to lift the ban: `\(fix)` (and `fail2ban-client set \(jail) addignoreip \(address)` never to ban it again)",
                    evidence: evidence)
    }

    /// kube-proxy rejects connections to a service that has no ready endpoints.
    static func noEndpoints(_ path: PacketPath) -> Hint? {
        guard path.verdict == .drop || path.verdict == .reject, let d = path.decidingStep, let owner = d.owner,
              owner.manager == .kubeProxy, owner.text("element") == "has no endpoints", let service = owner.text("service") else { return nil }
        let name = service.prefix { $0 != ":" }
        let namespace = name.contains("/") ? String(name.prefix { $0 != "/" }) : "default"
        let short = name.contains("/") ? String(name.drop { $0 != "/" }.dropFirst()) : String(name)
        let fix = "kubectl get endpointslices -n \(namespace) -l kubernetes.io/service-name=\(short)"
        return Hint(code: "no-endpoints",
                    message: "kube-proxy \(path.verdict == .reject ? "rejects" : "drops") this packet because service \(service) has no endpoints (\(place(d)) \(ruleRef(d))): no ready pod backs it. The firewall is not the problem: check the service's selector and its pods' readiness, `\(fix)`",
                    evidence: [("service", service), ("chain", place(d)), ("rule", d.rule.map(String.init) ?? ""), ("fix", fix)])
    }

    /// firewalld's zone rejected the packet, and the port is open in another zone.
    static func firewalldZone(_ path: PacketPath, _ context: HintContext) -> Hint? {
        guard path.verdict == .drop || path.verdict == .reject, let d = path.decidingStep, let owner = d.owner,
              owner.manager == .firewalld, let zone = owner.text("zone"),
              let port = OwnerFix.portSpec(PacketView(path: path, beforeStep: path.decidedBy ?? 0)) else { return nil }
        let zones = context.toolState.zones
        guard zones.zone(zone)?.list("ports").contains(port) != true,
              let (other, element) = zones.zones.keys.sorted().lazy.filter({ $0 != zone }).compactMap({ name -> (String, String)? in
                  let (kind, value) = zones.element(port: port, in: name)
                  let listed = kind == "port" ? zones.zone(name)?.list("ports").contains(value) == true : kind == "service"
                  return listed ? (name, "\(kind) \(value)") : nil
              }).first else { return nil }
        let (bound, binding) = zoneBinding(path, zone: zone)
        let why = bound == "interface" ? "its interface \(binding) is in zone \(zone)"
            : bound == "source" ? "its source matches zone \(zone)'s source \(binding)" : "\(zone) is the default zone (no interface or source of another zone matched)"
        let (add, reload) = OwnerFix.firewalldAddPort(zone: zone, port: port)
        let sources = zones.zone(other)?.list("sources") ?? []
        let moveSource = "firewall-cmd --zone \(other) --add-source \(path.packet.src) --permanent"
        return Hint(code: "firewalld-zone",
                    message: "firewalld put this packet in zone \(zone) (\(why); `firewall-cmd --get-active-zones`), and zone \(zone) \(path.verdict == .reject ? "rejected" : "dropped") it. \(port) is open in zone \(other) (\(element)\(sources.isEmpty ? "" : ", for sources \(sources.joined(separator: " "))")), which this packet never reached: a change is made per zone. Open it in the zone that takes the packet: `\(add)`, then `\(reload)`; or, if this client belongs in zone \(other): `\(moveSource)`, then `\(reload)`",
                    evidence: [("zone", zone), ("bound_by", bound), ("binding", binding), ("other_zone", other), ("other_element", element),
                               ("fix", "\(add); \(reload)")])
    }

    /// Why the packet's zone took it: the dispatch rule of `<table>_INPUT_ZONES` (or FORWARD) it met.
    static func zoneBinding(_ path: PacketPath, zone: String) -> (String, String) {
        let step = path.steps.last { s in
            s.owner?.manager == .firewalld && s.chain.hasSuffix("_ZONES") && s.kind == .goto && (s.target ?? s.text ?? "").hasSuffix("_\(zone)")
        }
        let words = (step?.text ?? "").split(separator: " ").map(String.init)
        if let i = words.firstIndex(of: "iifname"), i + 1 < words.count { return ("interface", words[i + 1].replacingOccurrences(of: "\"", with: "")) }
        if let i = words.firstIndex(of: "saddr"), i + 1 < words.count { return ("source", words[i + 1]) }
        if let i = words.firstIndex(of: "-i"), i + 1 < words.count { return ("interface", words[i + 1]) }
        if let i = words.firstIndex(of: "-s"), i + 1 < words.count { return ("source", words[i + 1]) }
        return ("default", "")
    }
}
