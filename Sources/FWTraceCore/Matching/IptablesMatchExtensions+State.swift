/// The modules that read the namespace's or the connection's state: addrtype (the namespace's
/// own addresses), conntrack (the packet's state and NAT), recent (its lists).
extension IptablesMatchExtensions {
    // MARK: addrtype

    /// `--src-type`/`--dst-type TYPE[,TYPE…]`, as xt_addrtype decides them: IPv4 by the local
    /// routing table (own addresses LOCAL, their subnets' broadcast BROADCAST, else UNICAST),
    /// IPv6 by the address's kind and the route to it.
    static func addrtype(_ option: Option, _ packet: PacketView) -> RuleMatch {
        guard option.name == "src-type" || option.name == "dst-type", let value = option.values.first else { return .unknown }
        let types = value.split(separator: ",").map(String.init)
        let address = option.name == "src-type" ? packet.src : packet.dst
        let environment = packet.environment
        if address.isV4 {
            guard let type = AddressType.ipv4(address, environment) else { return .unknown }
            return types.contains(type) ? .matches : .doesNotMatch
        }
        return AddressType.ipv6(types, address, environment)
    }

    // MARK: conntrack

    static let ctStatusBits: [String: String] = [
        "EXPECTED": "expected", "SEEN_REPLY": "seen_reply", "ASSURED": "assured", "CONFIRMED": "confirmed",
    ]

    static func conntrack(_ option: Option, _ packet: PacketView) -> RuleMatch {
        guard let value = option.values.first else { return .unknown }
        let environment = packet.environment
        switch option.name {
        case "ctstate", "state":
            var answer = RuleMatch.doesNotMatch
            for state in value.split(separator: ",").map({ $0.uppercased() }) {
                let m: RuleMatch
                switch state {
                case "SNAT", "DNAT":
                    guard let status = environment.ctStatus else { m = .unknown; break }
                    m = status.contains(state == "SNAT" ? "src_nat" : "dst_nat") ? .matches : .doesNotMatch
                default:
                    guard let actual = packet.ctState else { m = .unknown; break }
                    m = actual.rawValue.uppercased() == state ? .matches : .doesNotMatch
                }
                if m == .matches { return .matches }
                if m == .unknown { answer = .unknown }
            }
            return answer
        case "ctstatus":
            guard let status = environment.ctStatus else { return .unknown }
            let names = value.split(separator: ",").map { ctStatusBits[$0.uppercased()] }
            guard !names.contains(where: { $0 == nil }) else { return .unknown }
            return names.contains { status.contains($0!) } ? .matches : .doesNotMatch
        case "ctdir":
            // A packet that opens its connection goes in the original direction.
            guard packet.ctState == .new else { return .unknown }
            return value.uppercased() == "ORIGINAL" ? .matches : .doesNotMatch
        case "ctorigsrc", "ctorigdst":
            guard packet.ctState == .new, let tuple = environment.originalTuple, let prefix = IPPrefix(value) else { return .unknown }
            return prefix.contains(option.name == "ctorigsrc" ? tuple.src : tuple.dst) ? .matches : .doesNotMatch
        case "ctorigdstport", "ctorigsrcport":
            guard packet.ctState == .new, let tuple = environment.originalTuple,
                  let port = option.name == "ctorigdstport" ? tuple.dport : tuple.sport else { return .unknown }
            let bounds = value.split(separator: ":").compactMap { UInt16($0) }
            guard let lo = bounds.first, let hi = bounds.last else { return .unknown }
            return lo <= port && port <= hi ? .matches : .doesNotMatch
        default:
            return .unknown
        }
    }

    // MARK: recent

    /// `-m recent`: `--set` always matches (and adds the address); `--rcheck`, `--update` and
    /// `--remove` match when the list holds the address often enough (`--hitcount`, default 1).
    /// The list is what /proc/net/xt_recent showed (hits of any age), or, when the environment
    /// allows it, assumed empty (and so stated); plus the hits this path's earlier rules added.
    static func recent(_ options: [Option], _ packet: PacketView) -> (RuleMatch, String?) {
        let parsed = RecentOptions(options)
        // A mask other than all ones groups addresses: not evaluated.
        guard let parsed, parsed.mask.map({ IPAddress($0)?.bytes.allSatisfy { $0 == 0xff } == true }) ?? true else { return (.unknown, nil) }
        if parsed.mode == "set" { return (.matches, nil) }
        let address = parsed.rdest ? packet.dst : packet.src
        let environment = packet.environment
        let onPath = environment.matchedRules.filter { text in
            let words = Ruleset.splitArguments(text)
            guard let m = words.indices.first(where: { words[$0] == "recent" && $0 > 0 && words[$0 - 1] == "-m" }),
                  let other = RecentOptions(Self.options(words, from: m + 1).0) else { return false }
            return ["set", "update"].contains(other.mode) && other.name == parsed.name && other.rdest == parsed.rdest
        }.count
        var prior = 0
        var assumption: String?
        if let list = environment.recentLists[parsed.name] {
            prior = list[address] ?? 0
        } else if environment.assumeRecentEmpty {
            assumption = "list \(parsed.name) held no earlier hit from \(address) (its /proc/net/xt_recent state was not read)"
        } else {
            return (.unknown, nil)
        }
        let needed = max(parsed.hitcount ?? 1, 1)
        if onPath >= needed { return (.matches, assumption) }
        if prior + onPath < needed { return (.doesNotMatch, assumption) }
        // Enough hits only with the earlier ones: their age counts when --seconds is given.
        return parsed.seconds == nil ? (.matches, assumption) : (.unknown, nil)
    }

    struct RecentOptions {
        var mode = ""
        var name = "DEFAULT"
        var rdest = false
        var seconds: Int?
        var hitcount: Int?
        var mask: String?

        init?(_ options: [Option]) {
            for option in options {
                if option.negated { return nil }
                switch option.name {
                case "set", "rcheck", "update", "remove": mode = option.name
                case "name": name = option.values.first ?? name
                case "rsource": rdest = false
                case "rdest": rdest = true
                case "seconds": seconds = option.values.first.flatMap { Int($0) }
                case "hitcount": hitcount = option.values.first.flatMap { Int($0) }
                case "mask": mask = option.values.first
                case "reap": break
                default: return nil   // --rttl, …
                }
            }
            if mode.isEmpty { return nil }
        }
    }
}

/// An address's type as the kernel's address-type lookups give it (xt_addrtype, nft fib type).
enum AddressType {
    /// IPv4: inet_addr_type, a lookup in the local routing table. nil when it depends on what
    /// the environment does not know (the namespace's addresses, a subnet's network address).
    static func ipv4(_ address: IPAddress, _ environment: MatchEnvironment) -> String? {
        guard case .v4(let v) = address else { return nil }
        if v >> 24 == 0 || v == .max { return "BROADCAST" }
        if v >> 28 == 0xe { return "MULTICAST" }
        guard let local = environment.isLocal(address) else { return nil }
        if local { return "LOCAL" }
        for l in environment.localAddresses ?? [] where l.prefix.length <= 30 {
            guard case .v4(let own) = l.address else { continue }
            let host = UInt32.max >> UInt32(l.prefix.length)
            if v == own | host { return "BROADCAST" }
            if v == own & ~host { return nil }   // some kernels route a subnet's network address as broadcast
        }
        return "UNICAST"
    }

    /// IPv6: xt_addrtype's match_type6, all listed types at once (its semantics): MULTICAST,
    /// UNICAST and UNSPEC by the address, LOCAL and ANYCAST by the route (own addresses LOCAL,
    /// an own prefix's subnet-router address ANYCAST).
    static func ipv6(_ types: [String], _ address: IPAddress, _ environment: MatchEnvironment) -> RuleMatch {
        let bytes = address.bytes
        let multicast = bytes[0] == 0xff
        let unspecified = bytes.allSatisfy { $0 == 0 }
        var routed: [String] = []
        for type in types {
            switch type {
            case "MULTICAST": if !multicast { return .doesNotMatch }
            case "UNICAST": if multicast || unspecified { return .doesNotMatch }
            case "UNSPEC": if !unspecified { return .doesNotMatch }
            case "LOCAL", "ANYCAST": routed.append(type)
            default: return .unknown
            }
        }
        guard !routed.isEmpty else { return .matches }
        guard let local = environment.isLocal(address) else { return .unknown }
        if routed.contains("LOCAL") && local { return .matches }
        let anycast = !local && (environment.localAddresses ?? []).contains { l in
            guard !l.address.isV4, l.prefix.length < 127 else { return false }
            return IPPrefix("\(address)/\(l.prefix.length)").map { $0.contains(l.address) && Self.isNetwork(address, l.prefix.length) } ?? false
        }
        return routed.contains("ANYCAST") && anycast ? .matches : .doesNotMatch
    }

    static func isNetwork(_ address: IPAddress, _ length: Int) -> Bool {
        let bytes = address.bytes
        for bit in length..<(bytes.count * 8) where bytes[bit / 8] & (0x80 >> UInt8(bit % 8)) != 0 { return false }
        return true
    }
}
