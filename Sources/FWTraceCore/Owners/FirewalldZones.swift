import Foundation

/// firewalld's zones and policies as `firewall-cmd --list-all-zones` / `--list-all-policies`
/// (or `--list-all --zone=Z`) print them (firewalld 1.3.3, src/firewall/command.py
/// `print_zone_info` / `print_policy_info`): a header line `NAME [(default, active)]`, then
/// `  key: values` lines, the multi-line ones (forward-ports, rich rules) one entry per
/// following tab-indented line.
struct FirewalldZones: Sendable {
    struct Zone: Sendable {
        var name: String
        var values: [String: [String]] = [:]
        func list(_ key: String) -> [String] { values[key] ?? [] }
        var target: String? { values["target"]?.first }
    }

    private(set) var zones: [String: Zone] = [:]
    /// Service name → ports ("22/tcp"): the state's definitions, else firewalld's own.
    let services: [String: [String]]

    init(text: String?, xml: [String: String] = [:], services: [String: [String]]) {
        self.services = Self.knownServices.merging(services) { _, given in given }
        for (name, file) in xml { zones[name] = FirewalldZoneXML.zone(name: name, xml: file) }
        guard let text else { return }
        var current: Zone?
        var multiKey: String?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = String(raw)
            if !line.hasPrefix(" ") && !line.hasPrefix("\t") {
                if let current { zones[current.name] = current }
                current = Zone(name: String(line.prefix { $0 != " " }))
                multiKey = nil
                continue
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("\t"), let key = multiKey {
                current?.values[key, default: []].append(trimmed)
                continue
            }
            guard let colon = trimmed.firstIndex(of: ":") else { continue }
            let key = String(trimmed[..<colon])
            let rest = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            multiKey = key == "forward-ports" || key == "rich rules" ? key : nil
            current?.values[key] = rest.isEmpty ? [] : (multiKey == nil ? rest.split(separator: " ").map(String.init) : [rest])
        }
        if let current { zones[current.name] = current }
    }

    var isEmpty: Bool { zones.isEmpty }

    func zone(_ name: String) -> Zone? { zones[name] }

    /// What a port rule of a zone's (or policy's) allow chain is as the admin configured it:
    /// ("port", "8080/tcp") when the zone lists the port, else ("service", NAME) for a service
    /// of the zone (any service when the zone is not known) that has the port.
    func element(port: String, in name: String) -> (String, String) {
        let zone = zones[name]
        if let zone, zone.list("ports").contains(port) { return ("port", port) }
        let candidates = zone?.list("services") ?? services.keys.sorted()
        if let service = candidates.first(where: { services[$0]?.contains(port) == true }) { return ("service", service) }
        if zone?.list("source-ports").contains(port) == true { return ("source-port", port) }
        return ("port", port)
    }

    /// The rich rule of the zone that mentions every one of these words (addresses, ports).
    func richRule(in name: String, mentioning words: [String]) -> String? {
        let rules = zones[name]?.list("rich rules") ?? []
        let found = rules.filter { rule in words.allSatisfy { rule.contains("\"\($0)\"") } }
        return found.count == 1 ? found[0] : nil
    }

    /// The zone's `forward-ports:` entry for this port, protocol and destination.
    func forwardPort(in name: String, port: String, proto: String) -> String? {
        zones[name]?.list("forward-ports").first { $0.hasPrefix("port=\(port):proto=\(proto):") }
    }

    /// Ports of firewalld 1.3.3's service definitions (config/services/*.xml) that its default
    /// zones enable, and a few common ones: used where the state gives none.
    static let knownServices: [String: [String]] = [
        "ssh": ["22/tcp"], "dhcpv6-client": ["546/udp"], "cockpit": ["9090/tcp"], "mdns": ["5353/udp"],
        "samba-client": ["138/udp"], "dhcp": ["67/udp"], "dns": ["53/tcp", "53/udp"],
        "http": ["80/tcp"], "https": ["443/tcp"], "ipp-client": ["631/udp"], "ntp": ["123/udp"],
    ]
}
