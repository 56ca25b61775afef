/// A firewalld zone's XML file (/etc/firewalld/zones/NAME.xml, /usr/lib/firewalld/zones/NAME.xml;
/// firewalld 1.3.3, src/firewall/core/io/zone.py) read into the values `--list-all` prints:
/// `<service name>`, `<port port protocol>`, `<source-port>`, `<protocol value>`,
/// `<icmp-block name>`, `<masquerade/>`, `<forward/>`, `<forward-port port protocol to-port
/// to-addr>`, `<source address>`, `<interface name>`, the zone's `target`, and each `<rule>` as
/// the rich rule text (`rule family="ipv4" source address="…" port port="…" protocol="…" accept`).
/// It is the permanent configuration: runtime-only changes are not in it.
enum FirewalldZoneXML {
    struct Tag { var name: String; var attributes: [(String, String)]; var closing: Bool; var selfClosing: Bool }

    static func tags(_ xml: String) -> [Tag] {
        var out: [Tag] = []
        var rest = Substring(xml)
        while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
            var body = rest[rest.index(after: open)..<close]
            rest = rest[rest.index(after: close)...]
            if body.hasPrefix("?") || body.hasPrefix("!") { continue }
            let closing = body.hasPrefix("/"), selfClosing = body.hasSuffix("/")
            if closing { body = body.dropFirst() }
            if selfClosing { body = body.dropLast() }
            let name = String(body.prefix { $0 != " " && $0 != "\t" && $0 != "\n" })
            var attributes: [(String, String)] = []
            var attrs = body.dropFirst(name.count)
            while let eq = attrs.firstIndex(of: "="), let q1 = attrs[eq...].firstIndex(where: { $0 == "\"" || $0 == "'" }) {
                let quote = attrs[q1]
                guard let q2 = attrs[attrs.index(after: q1)...].firstIndex(of: quote) else { break }
                let key = attrs[..<eq].trimmingCharacters(in: .whitespacesAndNewlines)
                attributes.append((key, String(attrs[attrs.index(after: q1)..<q2])))
                attrs = attrs[attrs.index(after: q2)...]
            }
            out.append(Tag(name: name, attributes: attributes, closing: closing, selfClosing: selfClosing))
        }
        return out
    }

    static func zone(name: String, xml: String) -> FirewalldZones.Zone {
        var zone = FirewalldZones.Zone(name: name)
        var rule: [String]?
        func add(_ key: String, _ value: String) { zone.values[key, default: []].append(value) }
        for tag in tags(xml) {
            let a = Dictionary(tag.attributes, uniquingKeysWith: { first, _ in first })
            if tag.name == "rule" {
                if tag.closing, let words = rule { add("rich rules", words.joined(separator: " ")); rule = nil }
                else if !tag.closing { rule = ["rule"] + tag.attributes.map { "\($0.0)=\"\($0.1)\"" }; if tag.selfClosing { rule = nil } }
                continue
            }
            if rule != nil {
                guard !tag.closing else { continue }
                rule!.append(([tag.name] + tag.attributes.map { "\($0.0)=\"\($0.1)\"" }).joined(separator: " "))
                continue
            }
            switch tag.name {
            case "zone" where !tag.closing: if let target = a["target"] { zone.values["target"] = [target] }
            case "service": a["name"].map { add("services", $0) }
            case "port": if let p = a["port"], let proto = a["protocol"] { add("ports", "\(p)/\(proto)") }
            case "source-port": if let p = a["port"], let proto = a["protocol"] { add("source-ports", "\(p)/\(proto)") }
            case "protocol": a["value"].map { add("protocols", $0) }
            case "icmp-block": a["name"].map { add("icmp-blocks", $0) }
            case "masquerade": zone.values["masquerade"] = ["yes"]
            case "forward": zone.values["forward"] = ["yes"]
            case "source": a["address"].map { add("sources", $0) }
            case "interface": a["name"].map { add("interfaces", $0) }
            case "forward-port":
                if let p = a["port"], let proto = a["protocol"] {
                    add("forward-ports", "port=\(p):proto=\(proto):toport=\(a["to-port"] ?? ""):toaddr=\(a["to-addr"] ?? "")")
                }
            default: break
            }
        }
        if zone.values["target"] == nil { zone.values["target"] = ["default"] }
        return zone
    }
}
