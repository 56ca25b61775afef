/// iptables match modules beyond the core options, as the firewall managers write them
/// (addrtype, conntrack, multiport, iprange, mark, limit, hashlimit, recent, comment, set), and
/// the tcp module's `--tcp-flags` and `--syn`. Each module's options are parsed from the
/// iptables-save words after `-m NAME` and evaluated against the packet and its environment
/// (MatchEnvironment): what needs the namespace's state and is not in it stays unknown.
enum IptablesMatchExtensions {
    struct Option {
        var negated: Bool
        var name: String
        var values: [String]
    }

    static let modules: Set<String> = [
        "addrtype", "conntrack", "multiport", "iprange", "mark", "limit", "hashlimit", "recent", "comment", "set",
        "rt", "frag", "hbh", "dst",
    ]

    /// The options of a module block from `start`: `[!] --name [value …]` until a word that is
    /// not one (`-j`, `-p`, `! -s`, the next `-m`); and the index after the block.
    static func options(_ words: [String], from start: Int) -> ([Option], Int) {
        var options: [Option] = []
        var j = start
        while j < words.count {
            var k = j
            var negated = false
            if words[k] == "!" {
                guard k + 1 < words.count, words[k + 1].hasPrefix("--") else { break }
                negated = true
                k += 1
            }
            guard words[k].hasPrefix("--") else { break }
            var option = Option(negated: negated, name: String(words[k].dropFirst(2)), values: [])
            k += 1
            // A comment is one word, whatever it starts with.
            if option.name == "comment", k < words.count { option.values.append(words[k]); k += 1 }
            while option.name != "comment", k < words.count, !words[k].hasPrefix("-"), words[k] != "!" {
                option.values.append(words[k])
                k += 1
            }
            options.append(option)
            j = k
        }
        return (options, j)
    }

    /// Evaluates the block of `-m module` into `result`; the index after the block, or nil for a
    /// module the core evaluator handles (or leaves unknown).
    static func module(_ module: String, _ words: [String], from start: Int, _ packet: PacketView,
                       into result: inout MatchEvaluation) -> Int? {
        guard modules.contains(module) else { return nil }
        let (options, end) = Self.options(words, from: start)
        let text = (["-m", module] + words[start..<end].map { $0.contains(" ") ? "\"\($0)\"" : $0 }).joined(separator: " ")
        let (m, assumption) = evaluate(module, options, packet)
        result.fold(m, name: text, assumption: assumption.map { MatchAssumption(match: text, assumed: $0) })
        return end
    }

    static func evaluate(_ module: String, _ options: [Option], _ packet: PacketView) -> (RuleMatch, String?) {
        switch module {
        case "comment": return (.matches, nil)
        case "limit", "hashlimit": return rate(options, packet.environment)
        case "recent": return recent(options, packet)
        case "rt", "frag", "hbh", "dst":
            // IPv6 extension headers: explain's packet has none, so no option of these holds.
            return (packet.environment.plainPacket && packet.family == .ip6 ? .doesNotMatch : .unknown, nil)
        default:
            var answer = RuleMatch.matches
            for option in options {
                var m: RuleMatch
                switch module {
                case "addrtype": m = addrtype(option, packet)
                case "conntrack": m = conntrack(option, packet)
                case "multiport": m = multiport(option, packet)
                case "iprange": m = iprange(option, packet)
                case "mark": m = mark(option, packet)
                default: m = .unknown   // set: the ipsets' contents are not read
                }
                if option.negated { m = negate(m) }
                if m == .doesNotMatch { return (.doesNotMatch, nil) }
                if m == .unknown { answer = .unknown }
            }
            return (answer, nil)
        }
    }

    static func negate(_ m: RuleMatch) -> RuleMatch { m == .matches ? .doesNotMatch : m == .doesNotMatch ? .matches : .unknown }

    /// limit and hashlimit, assumed under their rate when the environment allows it:
    /// `--hashlimit-upto` (and limit) then match, `--hashlimit-above` does not.
    static func rate(_ options: [Option], _ environment: MatchEnvironment) -> (RuleMatch, String?) {
        guard environment.assumeUnderRates else { return (.unknown, nil) }
        let above = options.contains { $0.name == "hashlimit-above" }
        if options.contains(where: { $0.negated }) { return (.unknown, nil) }
        return above ? (.doesNotMatch, "not above its rate") : (.matches, "under its rate")
    }

    /// `--mark value[/mask]` against the packet mark.
    static func mark(_ option: Option, _ packet: PacketView) -> RuleMatch {
        guard option.name == "mark", let value = option.values.first, let (v, mask) = valueMask(value) else { return .unknown }
        guard let mark = packet.environment.mark else { return .unknown }
        return mark & mask == v ? .matches : .doesNotMatch
    }

    /// "0x10", "0x10/0xff", decimal too.
    static func valueMask(_ text: String) -> (UInt32, UInt32)? {
        let parts = text.split(separator: "/").map(String.init)
        guard let value = parts.first.flatMap(number) else { return nil }
        if parts.count == 2 { guard let mask = number(parts[1]) else { return nil }; return (value, mask) }
        return parts.count == 1 ? (value, .max) : nil
    }

    static func number(_ text: String) -> UInt32? {
        text.hasPrefix("0x") ? UInt32(text.dropFirst(2), radix: 16) : UInt32(text)
    }

    /// `--src-range a-b`, `--dst-range a-b`.
    static func iprange(_ option: Option, _ packet: PacketView) -> RuleMatch {
        guard option.name == "src-range" || option.name == "dst-range", let value = option.values.first else { return .unknown }
        let bounds = value.split(separator: "-").map { IPAddress(String($0)) }
        guard bounds.count == 2, let lo = bounds[0], let hi = bounds[1] else { return .unknown }
        let a = option.name == "src-range" ? packet.src : packet.dst
        guard lo.isV4 == a.isV4, hi.isV4 == a.isV4 else { return .unknown }
        return !a.bytes.lexicographicallyPrecedes(lo.bytes) && !hi.bytes.lexicographicallyPrecedes(a.bytes) ? .matches : .doesNotMatch
    }

    /// `--dports`, `--sports`, `--ports` (either port): a list of ports and ranges (`22,80,1000:2000`).
    static func multiport(_ option: Option, _ packet: PacketView) -> RuleMatch {
        guard let value = option.values.first else { return .unknown }
        var ranges: [ClosedRange<Int>] = []
        for item in value.split(separator: ",") {
            let bounds = item.split(separator: ":", omittingEmptySubsequences: false).map { $0.isEmpty ? nil : Int($0) }
            guard bounds.count <= 2, let lo = bounds.count == 2 ? (bounds[0] ?? 0) : bounds[0],
                  let hi = bounds.count == 2 ? (bounds[1] ?? 65535) : bounds[0], lo <= hi else { return .unknown }
            ranges.append(lo...hi)
        }
        let ports: [UInt16?]
        switch option.name {
        case "dports", "destination-ports": ports = [packet.dport]
        case "sports", "source-ports": ports = [packet.sport]
        case "ports": ports = [packet.sport, packet.dport]
        default: return .unknown
        }
        guard !ports.contains(where: { $0 == nil }) else { return .unknown }
        return ports.contains { p in ranges.contains { $0.contains(Int(p!)) } } ? .matches : .doesNotMatch
    }

    /// Options of the tcp module the core evaluator leaves out: `--tcp-flags MASK COMP` and
    /// `--syn`. The answer and the index after the option, or nil for another option.
    static func option(_ word: String, _ words: [String], at i: Int, _ packet: PacketView) -> (RuleMatch, Int)? {
        switch word {
        case "--tcp-flags":
            guard i + 2 < words.count, let mask = tcpFlags(words[i + 1]), let comp = tcpFlags(words[i + 2]) else {
                return (.unknown, min(i + 3, words.count))
            }
            return (flagsMatch(mask, comp, packet), i + 3)
        case "--syn":
            return (flagsMatch(0x17, 0x02, packet), i + 1)
        case "-f", "--fragment":
            return (packet.environment.plainPacket ? .doesNotMatch : .unknown, i + 1)
        default:
            return nil
        }
    }

    static let tcpFlagBits: [Substring: UInt8] = [
        "FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20, "ECE": 0x40, "CWR": 0x80,
        "ALL": 0x3f, "NONE": 0,
    ]

    static func tcpFlags(_ text: String) -> UInt8? {
        var bits: UInt8 = 0
        for name in text.split(separator: ",") {
            guard let bit = tcpFlagBits[name] else { return nil }
            bits |= bit
        }
        return bits
    }

    static func flagsMatch(_ mask: UInt8, _ comp: UInt8, _ packet: PacketView) -> RuleMatch {
        guard packet.protocolNumber == 6, let flags = packet.tcpFlags else { return .unknown }
        return flags & mask == comp ? .matches : .doesNotMatch
    }
}
