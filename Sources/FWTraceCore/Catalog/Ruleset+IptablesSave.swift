import Foundation

/// The one parser of iptables-save's text, from either backend (`iptables-legacy-save`,
/// `iptables-nft-save`, and their ip6 twins): tables, chain policies, rules by position with their
/// target. fwtrace's own TRACE rules (comment `fwtrace:…`) are left out and the positions they
/// shift are mapped back, so numbers match `iptables -L --line-numbers` as it is without fwtrace.
extension Ruleset {
    /// An iptables ruleset (the legacy backend's, and explain's there) from iptables-save and
    /// ip6tables-save output.
    public static func parse(iptablesSave: String, ip6tablesSave: String = "") -> Ruleset {
        var r = Ruleset()
        r.addIptablesSave(iptablesSave, family: .ip)
        r.addIptablesSave(ip6tablesSave, family: .ip6)
        r.resolveChainTargets()
        r.index()
        return r
    }

    /// True when the save output holds anything an admin configured (a rule or a non-ACCEPT policy).
    public static func hasUserRules(_ save: String) -> Bool {
        save.split(separator: "\n").contains { line in
            let l = Self.stripSaveCounters(String(line))
            if l.hasPrefix("-A ") { return !l.contains("fwtrace:") }
            if l.hasPrefix(":") { let w = l.split(separator: " "); return w.count >= 2 && w[1] != "ACCEPT" && w[1] != "-" }
            return false
        }
    }

    /// "[5:300] -A INPUT …" (iptables-save -c) without its counters.
    public static func stripSaveCounters(_ line: String) -> String {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return line }
        return String(line[line.index(after: close)...]).trimmingCharacters(in: .whitespaces)
    }

    mutating func addIptablesSave(_ save: String, family: TableFamily) {
        sources.insert(.iptablesSave)
        var table: String?
        var kernelPosition: [String: Int] = [:]
        for raw in save.split(separator: "\n") {
            let line = String(raw)
            if line.hasPrefix("*") {
                let name = String(line.dropFirst())
                table = name
                let key = TableKey(family: family, name: name)
                tables[key] = Table(family: family, name: name, syntax: .iptables)
                kernelPosition = [:]
                continue
            }
            guard let table else { continue }
            if line.hasPrefix(":") {
                let words = line.dropFirst().split(separator: " ")
                guard let name = words.first else { continue }
                // Built-in chains have a policy, user chains "-".
                let policy = words.count > 1 && words[1] != "-" ? ChainPolicy(word: words[1]) : nil
                addChain(Chain(key: ChainKey(family: family, table: table, chain: String(name)), policy: policy))
                continue
            }
            addSaveRule(line, family: family, table: table, kernelPosition: &kernelPosition)
        }
    }

    /// One "-A CHAIN …" line (with or without counters); other lines are left out.
    mutating func addSaveRule(_ line: String, family: TableFamily, table: String, kernelPosition: inout [String: Int]) {
        var counters: Counters?
        var text = line
        if line.hasPrefix("["), let close = line.firstIndex(of: "]") {
            let numbers = line[line.index(after: line.startIndex)..<close].split(separator: ":")
            if numbers.count == 2 { counters = .init(packets: UInt64(numbers[0]) ?? 0, bytes: UInt64(numbers[1]) ?? 0) }
            text = Self.stripSaveCounters(line)
        }
        guard text.hasPrefix("-A ") else { return }
        let words = Self.splitArguments(text)
        guard words.count >= 2 else { return }
        let chain = words[1]
        let key = ChainKey(family: family, table: table, chain: chain)
        kernelPosition[chain, default: 0] += 1
        if chains[key] == nil { addChain(Chain(key: key)) }
        if let comment = words.firstIndex(of: "--comment"), comment + 1 < words.count, words[comment + 1].hasPrefix("fwtrace:") {
            chains[key]!.ownPositions.append(kernelPosition[chain]!)
            return
        }
        var rule = Rule(handle: nil, chain: chain, position: chains[key]!.rules.count + 1, text: text, syntax: .iptables)
        if let j = words.lastIndex(of: "-j"), j + 1 < words.count { rule.target = words[j + 1] }
        else if let g = words.lastIndex(of: "-g"), g + 1 < words.count { rule.target = words[g + 1]; rule.isGoto = true }
        rule.counters = counters
        rule.rejects = rule.target == "REJECT"
        chains[key]!.rules.append(rule)
    }

    /// Marks the rules whose target is a user chain of their table (known once every chain is read).
    mutating func resolveChainTargets() {
        for (key, chain) in chains {
            for (i, rule) in chain.rules.enumerated() {
                guard let target = rule.target else { continue }
                let targetKey = ChainKey(family: key.family, table: key.table, chain: target)
                chains[key]!.rules[i].targetIsChain = chains[targetKey] != nil && chains[targetKey]!.policy == nil
            }
        }
    }

    /// Replaces the text of the rules of the tables that `iptables-nft-save` lists with the
    /// iptables syntax, matching rules by position in each chain. A chain whose rule count differs
    /// keeps the nft text: a wrong rule is worse than a less familiar one.
    mutating func applyIptablesSave(_ save: String, family: TableFamily) {
        // A table the save tool cannot render whole (native nft chains in `table ip filter`) is
        // announced by a comment ("# Table `filter' is incompatible, use 'nft' tool." or "…
        // contains incompatible base-chains…") and then rendered in part (`-A input_1` for a
        // rule it cannot express): such a table keeps nft syntax throughout.
        let incompatible = Set(save.split(separator: "\n").compactMap(Self.incompatibleTable))
        // fwtrace adds no rule to these tables: nothing of its own is left out.
        let parsed = family == .ip6 ? Ruleset.parse(iptablesSave: "", ip6tablesSave: save) : Ruleset.parse(iptablesSave: save)
        for key in parsed.tables.keys where !incompatible.contains(key.name) {
            noteTable(key)
            tables[key]!.syntax = .iptables
        }
        for (key, saved) in parsed.chains where !incompatible.contains(key.table) && !saved.rules.isEmpty {
            guard let rules = chains[key]?.rules, rules.count == saved.rules.count else { continue }
            for (i, rule) in saved.rules.enumerated() {
                chains[key]!.rules[i].text = rule.text
                chains[key]!.rules[i].syntax = .iptables
                chains[key]!.rules[i].target = rule.target
                chains[key]!.rules[i].isGoto = rule.isGoto
                chains[key]!.rules[i].targetIsChain = rule.targetIsChain
                if rule.text?.contains("-j REJECT") == true { chains[key]!.rules[i].rejects = true }
            }
        }
    }

    /// The table a save tool's "# Table `NAME' … incompatible …" comment names.
    static func incompatibleTable(_ line: Substring) -> String? {
        guard line.hasPrefix("# Table `"), line.contains("incompatible") else { return nil }
        let name = line.dropFirst("# Table `".count).prefix { $0 != "'" }
        return name.isEmpty ? nil : String(name)
    }

    /// The user's number for a position the kernel logged (fwtrace's own rules taken out).
    public func userPosition(_ family: TableFamily, _ table: String, _ chain: String, kernel position: Int) -> Int {
        let own = self.chain(family, table, chain)?.ownPositions ?? []
        return position - own.filter { $0 < position }.count
    }

    /// iptables' tables registered at each hook, in the order they run (by priority).
    public static let iptablesTableOrder: [Hook: [String]] = [
        .prerouting: ["raw", "mangle", "nat"],
        .input: ["mangle", "filter", "security", "nat"],
        .forward: ["mangle", "filter", "security"],
        .output: ["raw", "mangle", "nat", "filter", "security"],
        .postrouting: ["mangle", "nat"],
    ]

    /// Tables of this family that run at `hook` after `table`.
    public func tables(after table: String, at hook: Hook, family: TableFamily) -> [String] {
        let order = Self.iptablesTableOrder[hook] ?? []
        let present = tableNames(family)
        guard let index = order.firstIndex(of: table) else { return [] }
        return order[(index + 1)...].filter { present.contains($0) }
    }

    public func hasTables(at hook: Hook, family: TableFamily) -> Bool {
        let present = tableNames(family)
        return (Self.iptablesTableOrder[hook] ?? []).contains { present.contains($0) }
    }

    /// Splits an iptables-save rule line into words, honouring the double quotes it uses.
    public static func splitArguments(_ line: String) -> [String] {
        if let words = splitASCIIArguments(line) { return words }
        var words: [String] = []
        var current = ""
        var quoted = false, escaped = false, inWord = false
        for ch in line {
            if escaped { current.append(ch); escaped = false; continue }
            if ch == "\\" && quoted { escaped = true; continue }
            if ch == "\"" { quoted.toggle(); inWord = true; continue }
            if ch == " " && !quoted {
                if inWord { words.append(current); current = ""; inWord = false }
                continue
            }
            current.append(ch); inWord = true
        }
        if inWord { words.append(current) }
        return words
    }

    /// `splitArguments` on the bytes of an all-ASCII line (what iptables-save prints), nil for
    /// any other line. In ASCII every Character is one byte, except "\r\n", which no rule below
    /// treats specially: the words are the same.
    static func splitASCIIArguments(_ line: String) -> [String]? {
        let result: [String]?? = line.utf8.withContiguousStorageIfAvailable { bytes -> [String]? in
            var words: [String] = []
            var current: [UInt8] = []
            var quoted = false, escaped = false, inWord = false
            for b in bytes {
                if b >= 0x80 { return nil }
                if escaped { current.append(b); escaped = false; continue }
                if b == UInt8(ascii: "\\") && quoted { escaped = true; continue }
                if b == UInt8(ascii: "\"") { quoted.toggle(); inWord = true; continue }
                if b == UInt8(ascii: " ") && !quoted {
                    if inWord { words.append(String(decoding: current, as: UTF8.self)); current.removeAll(keepingCapacity: true); inWord = false }
                    continue
                }
                current.append(b); inWord = true
            }
            if inWord { words.append(String(decoding: current, as: UTF8.self)) }
            return words
        }
        return result ?? nil
    }
}

extension Ruleset.Rule {
    /// No match and a standard target (`-A CHAIN -j ACCEPT|DROP|RETURN`): the kernel's
    /// `unconditional()` entry that TRACE calls a chain tail.
    public var isUnconditionalStandard: Bool {
        guard let target, !isGoto, ["ACCEPT", "DROP", "RETURN"].contains(target) else { return false }
        let words = Ruleset.splitArguments(text ?? "")
        return words.count == 4 && words[0] == "-A" && words[2] == "-j"
    }

    /// The verdict the kernel applies when this iptables rule matches.
    public var iptablesVerdict: StepVerdict {
        guard let target else { return .continue }
        switch target {
        case "ACCEPT", "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP": return .accept
        case "DROP", "REJECT": return .drop
        case "RETURN": return .return
        case "QUEUE", "NFQUEUE": return .queue
        default:
            if targetIsChain { return isGoto ? .goto : .jump }
            return .continue   // LOG, MARK, CT, CONNMARK, TRACE, …: the packet goes on
        }
    }
}


extension TableFamily {
    /// The family of iptables' tables for packets of this family (iptables for IPv4, ip6tables for IPv6).
    public init(iptables family: PacketSummary.Family) { self = family == .ip ? .ip : .ip6 }
}
