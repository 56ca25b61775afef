/// Fixes in the owner's language (issue 14 item 2): the command of the tool that wrote the rule
/// (`ufw …`, `firewall-cmd …`, `fail2ban-client …`, a DOCKER-USER rule, Shorewall's rules file),
/// never a raw iptables/nft edit of a chain a tool manages unless the hint says that the tool
/// will overwrite it and where to make the change last (`overwriteWarning`).
enum OwnerFix {
    /// ufw's way of writing "anywhere".
    static func address(_ s: String) -> String { s == "0.0.0.0/0" || s == "::/0" || s.isEmpty ? "any" : s }

    static func protocolName(_ number: UInt8?) -> String? {
        switch number { case 6: return "tcp"; case 17: return "udp"; default: return nil }
    }

    /// The `ufw` command that writes this tuple (ufw 0.36.2's syntax, `ufw --help`), inserted at
    /// `insert` when given: `ufw insert 4 deny proto tcp from 10.77.0.9 to any port 80`.
    static func ufwCommand(_ t: UfwUserRules.Tuple, insert: Int? = nil) -> String {
        var words = ["ufw"]
        if let insert { words += ["insert", String(insert)] }
        if t.forward { words.append("route") }
        words.append(t.action)
        if t.logtype == "log" || t.logtype == "log-all" { words.append(t.logtype) }
        if !t.interfaceIn.isEmpty { words += ["in", "on", t.interfaceIn] }
        if !t.interfaceOut.isEmpty { words += ["out", "on", t.interfaceOut] }
        if t.proto != "any" && t.dapp.isEmpty && t.sapp.isEmpty { words += ["proto", t.proto] }
        words += ["from", address(t.src)]
        if !t.sapp.isEmpty { words += ["app", t.sapp] } else if t.sport != "any" { words += ["port", t.sport] }
        words += ["to", address(t.dst)]
        if !t.dapp.isEmpty { words += ["app", t.dapp] } else if t.dport != "any" { words += ["port", t.dport] }
        return words.joined(separator: " ")
    }

    /// `ufw allow` (or `ufw route allow` for routed traffic) for this packet's protocol and
    /// destination port, as the chain saw them; nil for a packet without a port.
    /// The ufw rule that lets the packet through its default policy: incoming (INPUT), routed
    /// (FORWARD: `ufw route allow`, to the address) or outgoing (OUTPUT: `ufw allow out`).
    static func ufwAllow(_ view: PacketView, hook: Hook) -> String? {
        guard let proto = protocolName(view.protocolNumber), let port = view.dport else { return nil }
        switch hook {
        case .forward: return "ufw route allow proto \(proto) from any to \(view.dst) port \(port)"
        case .output: return "ufw allow out proto \(proto) from any to \(view.dst) port \(port)"
        default: return "ufw allow proto \(proto) from any to any port \(port)"
        }
    }

    /// firewalld's two commands: the permanent setting, then the reload that applies it.
    static func firewalldAddPort(zone: String, port: String) -> (String, String) {
        ("firewall-cmd --zone \(zone) --add-port \(port) --permanent", "firewall-cmd --reload")
    }

    /// "8080/tcp" for the packet as the chain saw it.
    static func portSpec(_ view: PacketView) -> String? {
        guard let proto = protocolName(view.protocolNumber), let port = view.dport else { return nil }
        return "\(port)/\(proto)"
    }

    /// Said with any raw iptables/nft command on a managed chain: the tool will overwrite the
    /// edit, and where the change lasts instead.
    static func overwriteWarning(_ manager: RuleOwner.Manager) -> String {
        switch manager {
        case .ufw:
            return "ufw will overwrite this edit at `ufw reload` and at boot (it rewrites its chains): to make it last, make it a ufw rule (`ufw insert N …`), or put the iptables rule in /etc/ufw/before.rules (before6.rules for IPv6)"
        case .firewalld:
            return "firewalld will overwrite this edit at `firewall-cmd --reload` and at restart (it rebuilds its table): to make it last, make it a --permanent setting of the zone (a port, service or rich rule), then `firewall-cmd --reload`"
        case .docker:
            return "Docker will overwrite this edit when it restarts or starts a container (it rewrites its chains): to make it last, put the rule in DOCKER-USER, which Docker leaves to you"
        case .podman:
            return "netavark will overwrite this edit when a container starts and at `podman network reload`: to make it last, filter in the host firewall's own rules (ufw route, firewalld policies) or publish the port only where it should be reachable (`podman run -p 127.0.0.1:PORT:PORT …`)"
        case .kubeProxy:
            return "kube-proxy will overwrite this edit at its next sync (within seconds): change the Service, its endpoints or a NetworkPolicy instead"
        case .fail2ban:
            return "fail2ban will overwrite this edit when it bans, unbans or restarts: use fail2ban-client (`set JAIL unbanip ADDR`, `set JAIL addignoreip ADDR`) or the jail's ignoreip in jail.local"
        case .libvirt:
            return "libvirt will overwrite this edit when the network restarts: to make it last, use an nwfilter or a hook script (/etc/libvirt/hooks/network)"
        case .shorewall:
            return "Shorewall will overwrite this edit at `shorewall reload` (it rewrites the whole ruleset): to make it last, put the rule in /etc/shorewall/rules, then `shorewall reload`"
        }
    }

    /// A raw command for a chain, with the overwrite warning when a tool manages the chain.
    static func raw(_ command: String, managedBy manager: RuleOwner.Manager?) -> String {
        guard let manager else { return command }
        return "\(command) — but \(overwriteWarning(manager))"
    }

    /// Shorewall's rules-file line that accepts this packet between the owner's zones.
    static func shorewallAccept(_ owner: RuleOwner, _ view: PacketView) -> String? {
        guard let from = owner.text("from_zone"), let to = owner.text("to_zone"),
              let proto = protocolName(view.protocolNumber), let port = view.dport else { return nil }
        return "ACCEPT \(from) \(to) \(proto) \(port)"
    }
}
