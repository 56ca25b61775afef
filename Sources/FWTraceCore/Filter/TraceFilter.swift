/// What to trace: the user's `follow` options, checked and translated into an nft expression.
/// Everything is validated before anything touches the kernel.
public struct FilterError: Error, Equatable, CustomStringConvertible, Sendable {
    public var message: String
    public var example: String
    public init(_ message: String, example: String) { self.message = message; self.example = example }
    public var description: String { "\(message) (for example: \(example))" }
}

public struct TraceFilter: Equatable, Sendable {
    public enum Proto: Equatable, Sendable {
        case tcp, udp, icmp, icmpv6, sctp, number(UInt8)

        var nftName: String {
            switch self {
            case .tcp: return "tcp"
            case .udp: return "udp"
            case .icmp: return "icmp"
            case .icmpv6: return "ipv6-icmp"
            case .sctp: return "sctp"
            case .number(let n): return String(n)
            }
        }

        public var number: UInt8 {
            switch self {
            case .tcp: return 6
            case .udp: return 17
            case .icmp: return 1
            case .icmpv6: return 58
            case .sctp: return 132
            case .number(let n): return n
            }
        }

        var hasPorts: Bool { [6, 17, 132, 136, 33].contains(number) }
    }

    public enum Ports: Equatable, Sendable {
        case single(UInt16)
        case range(UInt16, UInt16)
        case list([UInt16])

        var nft: String {
            switch self {
            case .single(let p): return String(p)
            case .range(let a, let b): return "\(a)-\(b)"
            case .list(let ps): return "{ " + ps.map(String.init).joined(separator: ", ") + " }"
            }
        }

        public func contains(_ port: UInt16) -> Bool {
            switch self {
            case .single(let p): return p == port
            case .range(let a, let b): return (a...b).contains(port)
            case .list(let ps): return ps.contains(port)
            }
        }
    }

    public var proto: Proto?
    public var sport: Ports?
    public var dport: Ports?
    public var src: IPPrefix?
    public var dst: IPPrefix?
    public var inInterface: String?
    public var outInterface: String?
    public var families: Set<PacketSummary.Family> = [.ip, .ip6]

    public init() {}

    // MARK: - Parsing

    public static func parseProto(_ text: String) throws -> Proto {
        switch text.lowercased() {
        case "tcp": return .tcp
        case "udp": return .udp
        case "icmp": return .icmp
        case "icmpv6", "ipv6-icmp", "icmp6": return .icmpv6
        case "sctp": return .sctp
        default:
            guard let n = UInt8(text), n > 0 else {
                throw FilterError("unknown protocol '\(text)': use tcp, udp, icmp, icmpv6, sctp or a protocol number 1-255",
                                  example: "-p tcp")
            }
            switch n {
            case 6: return .tcp
            case 17: return .udp
            case 1: return .icmp
            case 58: return .icmpv6
            case 132: return .sctp
            default: return .number(n)
            }
        }
    }

    public static func parsePorts(_ text: String, option: String) throws -> Ports {
        let example = "\(option) 8080, \(option) 8000:8100 or \(option) 80,443"
        func port(_ s: Substring) throws -> UInt16 {
            guard !s.isEmpty, s.count <= 5, s.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(s), v <= 65535 else {
                throw FilterError("invalid port '\(s)' in \(option) \(text): ports are numbers from 0 to 65535", example: example)
            }
            return UInt16(v)
        }
        if text.contains(",") {
            let ports = try text.split(separator: ",", omittingEmptySubsequences: false).map(port)
            return .list(Array(Set(ports)).sorted())
        }
        for separator in [":", "-"] where text.contains(separator) {
            let parts = text.split(separator: Character(separator), omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw FilterError("invalid port range '\(text)'", example: example) }
            let a = try port(parts[0]), b = try port(parts[1])
            guard a <= b else { throw FilterError("port range '\(text)' runs backwards: the first port must not be above the second", example: example) }
            return a == b ? .single(a) : .range(a, b)
        }
        return .single(try port(Substring(text)))
    }

    public static func parsePrefix(_ text: String, option: String) throws -> IPPrefix {
        guard let prefix = IPPrefix(text) else {
            throw FilterError("invalid address '\(text)' for \(option): give an IPv4 or IPv6 address, optionally with /prefix",
                              example: "\(option) 10.0.0.0/8 or \(option) 2001:db8::1")
        }
        return prefix
    }

    public static func parseInterface(_ text: String, option: String) throws -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:@")
        let body = text.hasSuffix("+") ? String(text.dropLast()) : text
        guard !text.isEmpty, text.utf8.count <= 15, body.allSatisfy({ allowed.contains($0) }),
              !(text.hasSuffix("+") && body.isEmpty && false) else {
            throw FilterError("invalid interface name '\(text)' for \(option): up to 15 letters, digits or _ . - : @, with an optional trailing + as a wildcard",
                              example: "\(option) eth0 or \(option) veth+")
        }
        return text
    }

    /// Checks that the parts agree with each other (families, protocol and ports).
    public mutating func validate() throws {
        var families = self.families
        for (prefix, option) in [(src, "--src"), (dst, "--dst")] {
            guard let prefix else { continue }
            let family: PacketSummary.Family = prefix.address.isV4 ? .ip : .ip6
            guard families.contains(family) else {
                throw FilterError("\(option) \(prefix) is an \(family == .ip ? "IPv4" : "IPv6") address but only \(families.contains(.ip) ? "IPv4" : "IPv6") is traced",
                                  example: family == .ip ? "-4 \(option) 10.0.0.1" : "-6 \(option) 2001:db8::1")
            }
            families = [family]
        }
        if proto == .icmp {
            guard families.contains(.ip) else { throw FilterError("-p icmp is IPv4's ICMP: with -6 use -p icmpv6", example: "-6 -p icmpv6") }
            families = [.ip]
        }
        if proto == .icmpv6 {
            guard families.contains(.ip6) else { throw FilterError("-p icmpv6 is IPv6's ICMP: with -4 use -p icmp", example: "-4 -p icmp") }
            families = [.ip6]
        }
        if let proto, !proto.hasPorts, sport != nil || dport != nil {
            throw FilterError("--sport/--dport need a protocol with ports (tcp, udp, sctp), not \(proto.nftName)", example: "-p tcp --dport 8080")
        }
        self.families = families
    }

    // MARK: - nft

    /// The match part of the trace rule for one of fwtrace's base chains; nil when no packet
    /// at that hook can match (an input interface on locally generated packets).
    /// In a netdev table (`hook` ingress) the family is the frame's ethertype (`meta protocol`):
    /// `meta nfproto` there is always netdev.
    public func nftMatch(for hook: Hook) -> String? {
        var parts: [String] = []
        if hook == .output, inInterface != nil { return nil }
        let addressFamilyImplied = src != nil || dst != nil || proto == .icmp || proto == .icmpv6
        if !addressFamilyImplied, families.count == 1 {
            if hook == .ingress {
                parts.append(families.first == .ip ? "meta protocol ip" : "meta protocol ip6")
            } else {
                parts.append(families.first == .ip ? "meta nfproto ipv4" : "meta nfproto ipv6")
            }
        } else if !addressFamilyImplied, hook == .ingress {
            // Only IP frames: ARP and the rest carry no ports or addresses a filter could name.
            parts.append("meta protocol { ip, ip6 }")
        }
        if let src { parts.append("\(src.address.isV4 ? "ip" : "ip6") saddr \(src)") }
        if let dst { parts.append("\(dst.address.isV4 ? "ip" : "ip6") daddr \(dst)") }
        if let inInterface, hook != .output { parts.append("iifname \(Self.nftInterface(inInterface))") }
        // The output interface is not known before routing: prerouting traces every candidate and
        // the path is kept only if it leaves by that interface.
        if let outInterface, hook == .output { parts.append("oifname \(Self.nftInterface(outInterface))") }
        let hasPorts = sport != nil || dport != nil
        if let proto {
            if hasPorts, proto == .tcp || proto == .udp || proto == .sctp {
                if let sport { parts.append("\(proto.nftName) sport \(sport.nft)") }
                if let dport { parts.append("\(proto.nftName) dport \(dport.nft)") }
            } else {
                parts.append("meta l4proto \(proto.nftName)")
                if let sport { parts.append("th sport \(sport.nft)") }
                if let dport { parts.append("th dport \(dport.nft)") }
            }
        } else if hasPorts {
            parts.append("meta l4proto { tcp, udp, sctp }")
            if let sport { parts.append("th sport \(sport.nft)") }
            if let dport { parts.append("th dport \(dport.nft)") }
        }
        return parts.joined(separator: " ")
    }

    static func nftInterface(_ name: String) -> String {
        name.hasSuffix("+") ? "\"\(name.dropLast())*\"" : "\"\(name)\""
    }

    /// A short description for session records and messages.
    public var summary: String {
        var parts: [String] = []
        if families.count == 1 { parts.append(families.first == .ip ? "-4" : "-6") }
        if let proto { parts.append("-p \(proto.nftName == "ipv6-icmp" ? "icmpv6" : proto.nftName)") }
        if let src { parts.append("-s \(src)") }
        if let dst { parts.append("-d \(dst)") }
        if let sport { parts.append("--sport \(sport.text)") }
        if let dport { parts.append("--dport \(dport.text)") }
        if let inInterface { parts.append("-i \(inInterface)") }
        if let outInterface { parts.append("-o \(outInterface)") }
        return parts.isEmpty ? "(all packets)" : parts.joined(separator: " ")
    }

    /// Whether a packet (as it arrived, before any NAT) is one the filter names. The nft backend
    /// needs no such check (its own rule starts every path); the legacy one does, because any
    /// TRACE rule in the namespace marks packets.
    public func matches(_ p: PacketSummary) -> Bool {
        guard families.contains(p.family) else { return false }
        if let proto, p.protocolKnown, p.protocolNumber != proto.number { return false }
        if let src, !src.contains(p.src) { return false }
        if let dst, !dst.contains(p.dst) { return false }
        if let sport { guard let port = p.sport, sport.contains(port) else { return false } }
        if let dport { guard let port = p.dport, dport.contains(port) else { return false } }
        return true
    }

    /// Paths whose packet left by another interface are dropped when -o was given.
    public func accepts(_ path: PacketPath) -> Bool {
        guard let outInterface else { return true }
        guard let oif = path.oif else { return false }
        if outInterface.hasSuffix("+") { return oif.hasPrefix(String(outInterface.dropLast())) }
        return oif == outInterface
    }
}

extension TraceFilter.Ports {
    var text: String {
        switch self {
        case .single(let p): return String(p)
        case .range(let a, let b): return "\(a):\(b)"
        case .list(let ps): return ps.map(String.init).joined(separator: ",")
        }
    }
}

extension TraceFilter {
    /// iptables match arguments for fwtrace's TRACE rule in raw PREROUTING or OUTPUT, one
    /// argument list per rule (ports without a protocol need one rule per protocol); nil when no
    /// packet at that hook can match.
    public func iptablesMatches(for hook: Hook, family: PacketSummary.Family) -> [[String]]? {
        guard families.contains(family) else { return nil }
        if hook == .output, inInterface != nil { return nil }
        var common: [String] = []
        if let src { common += ["-s", src.description] }
        if let dst { common += ["-d", dst.description] }
        if let inInterface, hook != .output { common += ["-i", inInterface] }
        if let outInterface, hook == .output { common += ["-o", outInterface] }
        func ports(_ option: String, _ p: Ports?) -> [String] {
            guard let p else { return [] }
            switch p {
            case .list(let list): return ["-m", "multiport", "--\(option)s", list.map(String.init).joined(separator: ",")]
            default: return ["--\(option)", p.text]
            }
        }
        let hasPorts = sport != nil || dport != nil
        var protocols: [String?]
        if let proto {
            switch proto {
            case .icmpv6: protocols = ["ipv6-icmp"]
            case .number(let n): protocols = [String(n)]
            default: protocols = [proto.nftName]
            }
        } else {
            protocols = hasPorts ? ["tcp", "udp", "sctp"] : [nil]
        }
        return protocols.map { p in
            var args = common
            if let p { args += ["-p", p] }
            return args + ports("sport", sport) + ports("dport", dport)
        }
    }
}
