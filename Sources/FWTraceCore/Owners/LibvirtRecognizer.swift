/// libvirt's virtual networks. iptables backend (libvirt ≥ 5.1, src/network/network_iptables.c
/// and src/util/viriptables.c): chains LIBVIRT_INP, LIBVIRT_OUT, LIBVIRT_FWO, LIBVIRT_FWI,
/// LIBVIRT_FWX, LIBVIRT_PRT, each rule naming the network's bridge (`-i virbr0`, `-o virbr0`).
/// nftables backend (libvirt ≥ 10.4, src/network/network_nftables.c): `table ip
/// libvirt_network` / `ip6 libvirt_network` (chains forward, guest_output, guest_input,
/// guest_cross, guest_nat, postrouting). A bridge's network name comes from the network's XML
/// (`virsh net-dumpxml`: `<name>default</name>`, `<bridge name='virbr0' …/>`), where given.
struct LibvirtRecognizer: OwnerRecognizer {
    /// Bridge → network name.
    let networks: [String: String]

    init?(facts: OwnerFacts, state: ToolState) {
        guard facts.hasChain(where: { Self.isLibvirt($0) }) else { return nil }
        var networks: [String: String] = [:]
        for xml in state.libvirtNetworks {
            guard let name = Self.capture(xml, after: "<name>", until: "<"),
                  let bridge = Self.capture(xml, after: "<bridge name='", until: "'") ?? Self.capture(xml, after: "<bridge name=\"", until: "\"")
            else { continue }
            networks[bridge] = name
        }
        self.networks = networks
    }

    static func isLibvirt(_ chain: OwnerFacts.Chain) -> Bool {
        chain.name.hasPrefix("LIBVIRT_") || chain.table == "libvirt_network"
    }

    static func capture(_ text: String, after start: String, until end: Character) -> String? {
        guard let range = text.range(of: start) else { return nil }
        let value = text[range.upperBound...].prefix { $0 != end }
        return value.isEmpty ? nil : String(value)
    }

    func owner(ofChain chain: OwnerFacts.Chain) -> RuleOwner? {
        Self.isLibvirt(chain) ? RuleOwner(.libvirt, label: "libvirt") : nil
    }

    func owner(of rule: OwnerFacts.Rule, in chain: OwnerFacts.Chain) -> RuleOwner? {
        if !Self.isLibvirt(chain) {
            guard let target = rule.target, target.hasPrefix("LIBVIRT_") else { return nil }
            return RuleOwner(.libvirt, label: "libvirt")
        }
        guard let bridge = [rule.value(after: "-i"), rule.value(after: "-o"), rule.value(after: "iifname"), rule.value(after: "oifname")]
            .compactMap({ $0 }).first else { return nil }
        var fields: [(String, RuleOwner.Value)] = []
        if let name = networks[bridge] { fields.append(("network", .text(name))) }
        fields.append(("bridge", .text(bridge)))
        return RuleOwner(.libvirt, fields, label: "libvirt network \(networks[bridge] ?? bridge)")
    }
}
