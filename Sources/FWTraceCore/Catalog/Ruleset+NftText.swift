import Foundation

/// The parser of `nft -a list ruleset`'s text: tables, chains with their headers, and rules with
/// their handles, text and counters.
extension Ruleset {
    /// Builds the ruleset follow uses on nf_tables: the text of `nft -a list ruleset` and the
    /// `iptables-nft-save` outputs (keyed by family: .ip for iptables-nft-save, .ip6 for
    /// ip6tables-nft-save), whose text replaces the nft text of the tables they manage.
    public static func build(nftListing: String, iptablesSave: [TableFamily: String] = [:]) -> Ruleset {
        var ruleset = Ruleset()
        ruleset.parseNftListing(nftListing)
        for (family, text) in iptablesSave {
            ruleset.applyIptablesSave(text, family: family)
        }
        ruleset.index()
        return ruleset
    }

    /// Named priorities of nft (for the ip, ip6 and inet families).
    static let namedPriorities: [String: Int] = [
        "raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100,
    ]

    static func parsePriority(_ text: String) -> Int? {
        let parts = text.split(separator: " ").map(String.init)
        guard let first = parts.first else { return nil }
        var value: Int
        // Read as the kernel's int32: a sum of two never overflows, whatever the listing says.
        if let number = Int32(first) { value = Int(number) } else if let named = namedPriorities[first] { value = named } else { return nil }
        if parts.count == 3, let offset = Int32(parts[2]).map(Int.init) {
            value += parts[1] == "-" ? -offset : offset
        }
        return value
    }

    mutating func parseNftListing(_ listing: String) {
        sources.insert(.nftText)
        var table: TableKey?
        var chainKey: ChainKey?
        var depth = 0           // brace depth: 1 inside a table, 2 inside a chain/set/...
        var blockIsChain = false
        for rawLine in listing.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            var handle: UInt64?
            if let range = line.range(of: " # handle ", options: .backwards) {
                handle = UInt64(line[range.upperBound...].trimmingCharacters(in: .whitespaces))
                line = String(line[..<range.lowerBound])
            }
            if line == "}" {
                if depth == 2 { chainKey = nil; blockIsChain = false }
                if depth == 1 { table = nil }
                depth = max(0, depth - 1)
                continue
            }
            if depth == 0, line.hasPrefix("table "), line.hasSuffix("{") {
                let words = line.split(separator: " ")
                table = nil
                if words.count >= 4 {
                    let key = TableKey(family: TableFamily(keyword: String(words[1])), name: String(words[2]))
                    tables[key] = Table(family: key.family, name: key.name, handle: handle)
                    table = key
                }
                depth = 1
                continue
            }
            if depth == 1 {
                if line.hasPrefix("flags "), line.contains("dormant"), let table { tables[table]?.dormant = true }
                if line.hasSuffix("{") {
                    depth = 2
                    if line.hasPrefix("chain "), let table {
                        let name = Self.unquote(String(line.dropFirst(6).dropLast(1)).trimmingCharacters(in: .whitespaces))
                        let key = ChainKey(family: table.family, table: table.name, chain: name)
                        chainKey = key
                        blockIsChain = true
                        addChain(Chain(key: key, handle: handle))
                    }
                }
                continue
            }
            if depth >= 2 {
                if line.hasSuffix("{") { depth += 1; continue }
                guard depth == 2, blockIsChain, let key = chainKey else { continue }
                if let handle {
                    addNftRule(line, handle: handle, chain: key)
                } else if line.hasPrefix("type ") {
                    parseChainHeader(line, chain: key)
                }
            }
        }
    }

    static func unquote(_ s: String) -> String {
        if s.count >= 2, s.hasPrefix("\""), s.hasSuffix("\"") { return String(s.dropFirst().dropLast()) }
        return s
    }

    mutating func parseChainHeader(_ line: String, chain key: ChainKey) {
        // "type filter hook input priority filter; policy accept;"
        for statement in line.split(separator: ";") {
            let words = statement.split(separator: " ").map(String.init)
            if words.first == "type", words.count >= 2 {
                chains[key]?.type = ChainType(rawValue: words[1])
                if let h = words.firstIndex(of: "hook"), h + 1 < words.count {
                    chains[key]?.hook = Hook(rawValue: words[h + 1]) ?? .unknown
                }
                if let p = words.firstIndex(of: "priority"), p + 1 < words.count {
                    chains[key]?.priority = Self.parsePriority(words[(p + 1)...].joined(separator: " "))
                }
            } else if words.first == "policy", words.count >= 2 {
                chains[key]?.policy = ChainPolicy(word: words[1])
            }
        }
    }

    mutating func addNftRule(_ text: String, handle: UInt64, chain key: ChainKey) {
        guard chains[key] != nil else { return }
        let (stripped, counters) = Self.stripCounters(text)
        var rule = Rule(handle: handle, chain: key.chain, position: chains[key]!.rules.count + 1, text: stripped, syntax: .nft)
        rule.nftText = stripped
        rule.counters = counters
        rule.rejects = stripped.range(of: #"(^| )reject( |$)"#, options: .regularExpression) != nil
        chains[key]!.rules.append(rule)
    }

    /// "counter packets 12 bytes 720" becomes "counter" (what the user wrote) and the numbers.
    static func stripCounters(_ text: String) -> (String, Counters?) {
        guard let range = text.range(of: #"counter packets [0-9]+ bytes [0-9]+"#, options: .regularExpression) else {
            return (text, nil)
        }
        let words = text[range].split(separator: " ")
        let counters = Counters(packets: UInt64(words[2]) ?? 0, bytes: UInt64(words[4]) ?? 0)
        var stripped = text
        stripped.replaceSubrange(range, with: "counter")
        return (stripped, counters)
    }
}
