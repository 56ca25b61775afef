/// The managers' own state, as text, where fwtrace could read it: it turns what the ruleset
/// shows into the tool's own names (ufw's rule numbers, firewalld's services, container names).
/// Every field is optional: without it the recognisers still name the manager and what the
/// ruleset itself says.
public struct ToolState: Sendable {
    /// /etc/ufw/user.rules and user6.rules.
    public var ufwUserRules: String?
    public var ufwUserRules6: String?
    /// `ufw status numbered`: its rule texts (the numbers are derived from the tuples).
    public var ufwStatusNumbered: String?
    /// `firewall-cmd --list-all-zones` (or several `--list-all --zone=Z`, concatenated), and
    /// `--list-all-policies`.
    public var firewalldZones: String?
    /// firewalld zones' XML files by zone name (/usr/lib/firewalld/zones, overridden by
    /// /etc/firewalld/zones): the permanent configuration, read where the text above is not given.
    public var firewalldZoneXML: [String: String] = [:]
    /// firewalld service definitions: name → ports ("22/tcp"), from the services' XML
    /// (/usr/lib/firewalld/services, /etc/firewalld/services); missing ones fall back on
    /// FirewalldZones.knownServices.
    public var firewalldServices: [String: [String]] = [:]
    /// `podman ps --format json`, `podman inspect`, `docker inspect` (JSON arrays), any of them.
    public var containers: [String] = []
    /// libvirt network XML (`virsh net-dumpxml NAME`): bridge name → network name.
    public var libvirtNetworks: [String] = []
    /// Shorewall's /etc/shorewall/zones (the firewall zone's name and the zones).
    public var shorewallZones: String?

    public init() {}

    /// A firewalld service definition (services/NAME.xml): its `<port port protocol>` entries.
    public mutating func addFirewalldService(_ name: String, xml: String) {
        let ports = FirewalldZoneXML.tags(xml).filter { $0.name == "port" && !$0.closing }.compactMap { tag -> String? in
            let a = Dictionary(tag.attributes, uniquingKeysWith: { first, _ in first })
            guard let port = a["port"], let proto = a["protocol"] else { return nil }
            return "\(port)/\(proto)"
        }
        firewalldServices[name] = ports
    }

    /// A firewalld zone file (zones/NAME.xml).
    public mutating func addFirewalldZone(_ name: String, xml: String) { firewalldZoneXML[name] = xml }

    /// The names `fwtrace replay --tool-state KIND=FILE` takes, in its help's order.
    public static let kinds = ["ufw-user-rules", "ufw-user6-rules", "ufw-status", "firewalld-zones", "containers",
                               "libvirt-network", "shorewall-zones"]

    /// Takes one piece of state by its kind (`kinds`); false for a kind it does not know.
    public mutating func add(_ kind: String, _ text: String) -> Bool {
        switch kind {
        case "ufw-user-rules": ufwUserRules = text
        case "ufw-user6-rules": ufwUserRules6 = text
        case "ufw-status": ufwStatusNumbered = text
        case "firewalld-zones": firewalldZones = (firewalldZones.map { $0 + "\n" } ?? "") + text
        case "containers": containers.append(text)
        case "libvirt-network": libvirtNetworks.append(text)
        case "shorewall-zones": shorewallZones = text
        default: return false
        }
        return true
    }
}
