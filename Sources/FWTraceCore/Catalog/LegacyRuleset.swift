import Foundation

/// An iptables-legacy ruleset from `iptables-legacy-save` (and `ip6tables-legacy-save`): rules by
/// table, chain and position, chain policies, and which tables exist. fwtrace's own TRACE rules
/// (comment `fwtrace:…`) are left out and the positions they shift are mapped back, so numbers
/// match `iptables -L --line-numbers` as it is without fwtrace.
public struct LegacyRuleset: Sendable {
    public struct Rule: Equatable, Sendable {
        public var position: Int
        public var text: String
        /// What `-j`/`-g` names (ACCEPT, DROP, REJECT, RETURN, a user chain, LOG, DNAT, …); nil when none.
        public var target: String?
        public var isGoto: Bool
        public var counters: RuleCatalog.Counters?
        /// The target is a chain of the same table (a jump or goto), not an extension target.
        public var targetIsChain = false
        /// Who wrote it (nil: the admin); set by adoptOwners.
        public var owner: RuleOwner?
    }

    public struct Chain: Equatable, Sendable {
        public var name: String
        public var policy: String?          // nil for user chains
        public var rules: [Rule] = []
        /// Positions (in the kernel's numbering) of fwtrace's own rules in this chain.
        public var ownPositions: [Int] = []
        /// Who wrote the chain (its end) and its policy; set by adoptOwners.
        public var owner: RuleOwner?
        public var policyOwner: RuleOwner?
    }

    /// Puts each rule's and chain's owner where the assembler finds it with the rule: computed
    /// once per load, so that no step looks it up.
    public mutating func adoptOwners(_ owners: OwnerMap) {
        guard !owners.isEmpty else { return }
        for (key, chain) in chains {
            let family: TableFamily = key.family == .ip ? .ip : .ip6
            var updated = chain
            updated.owner = owners.chainOwner(family, key.table, key.chain)
            updated.policyOwner = owners.policyOwner(family, key.table, key.chain)
            for i in updated.rules.indices {
                updated.rules[i].owner = owners.owner(family, key.table, key.chain, position: updated.rules[i].position)
            }
            chains[key] = updated
        }
    }

    public struct ChainKey: Hashable, Sendable {
        public var family: PacketSummary.Family
        public var table: String
        public var chain: String
    }

    public private(set) var chains: [ChainKey: Chain] = [:]
    public private(set) var tables: [PacketSummary.Family: Set<String>] = [:]

    public init() {}

    public static func parse(ipv4: String, ipv6: String = "") -> LegacyRuleset {
        var r = LegacyRuleset()
        r.add(ipv4, family: .ip)
        r.add(ipv6, family: .ip6)
        for (key, chain) in r.chains {
            for (i, rule) in chain.rules.enumerated() {
                guard let target = rule.target else { continue }
                let targetKey = ChainKey(family: key.family, table: key.table, chain: target)
                r.chains[key]!.rules[i].targetIsChain = r.chains[targetKey] != nil && r.chains[targetKey]!.policy == nil
            }
        }
        return r
    }

    /// True when the save output holds anything an admin configured (a rule or a non-ACCEPT policy).
    public static func hasUserRules(_ save: String) -> Bool {
        save.split(separator: "\n").contains { line in
            let l = Self.stripCounters(String(line))
            if l.hasPrefix("-A ") { return !l.contains("fwtrace:") }
            if l.hasPrefix(":") { let w = l.split(separator: " "); return w.count >= 2 && w[1] != "ACCEPT" && w[1] != "-" }
            return false
        }
    }

    public static func stripCounters(_ line: String) -> String {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return line }
        return String(line[line.index(after: close)...]).trimmingCharacters(in: .whitespaces)
    }

    mutating func add(_ save: String, family: PacketSummary.Family) {
        var table: String?
        var kernelPosition: [String: Int] = [:]
        for raw in save.split(separator: "\n") {
            let line = String(raw)
            if line.hasPrefix("*") {
                table = String(line.dropFirst())
                tables[family, default: []].insert(table!)
                kernelPosition = [:]
                continue
            }
            guard let table else { continue }
            if line.hasPrefix(":") {
                let words = line.dropFirst().split(separator: " ")
                guard let name = words.first else { continue }
                let policy = words.count > 1 && words[1] != "-" ? String(words[1]) : nil
                chains[ChainKey(family: family, table: table, chain: String(name))] = Chain(name: String(name), policy: policy)
                continue
            }
            var counters: RuleCatalog.Counters?
            var text = line
            if line.hasPrefix("["), let close = line.firstIndex(of: "]") {
                let numbers = line[line.index(after: line.startIndex)..<close].split(separator: ":")
                if numbers.count == 2 { counters = .init(packets: UInt64(numbers[0]) ?? 0, bytes: UInt64(numbers[1]) ?? 0) }
                text = Self.stripCounters(line)
            }
            guard text.hasPrefix("-A ") else { continue }
            let words = Self.splitArguments(text)
            guard words.count >= 2 else { continue }
            let chain = words[1]
            let key = ChainKey(family: family, table: table, chain: chain)
            kernelPosition[chain, default: 0] += 1
            if chains[key] == nil { chains[key] = Chain(name: chain, policy: nil) }
            if let comment = words.firstIndex(of: "--comment"), comment + 1 < words.count, words[comment + 1].hasPrefix("fwtrace:") {
                chains[key]!.ownPositions.append(kernelPosition[chain]!)
                continue
            }
            var target: String?
            var isGoto = false
            if let j = words.lastIndex(of: "-j"), j + 1 < words.count { target = words[j + 1] }
            else if let g = words.lastIndex(of: "-g"), g + 1 < words.count { target = words[g + 1]; isGoto = true }
            let position = chains[key]!.rules.count + 1
            chains[key]!.rules.append(Rule(position: position, text: text, target: target, isGoto: isGoto, counters: counters))
        }
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

    public func chain(_ family: PacketSummary.Family, _ table: String, _ chain: String) -> Chain? {
        chains[ChainKey(family: family, table: table, chain: chain)]
    }

    /// The user's number for a position the kernel logged (fwtrace's own rules taken out).
    public func userPosition(_ family: PacketSummary.Family, _ table: String, _ chain: String, kernel position: Int) -> Int {
        let own = self.chain(family, table, chain)?.ownPositions ?? []
        return position - own.filter { $0 < position }.count
    }

    /// Tables registered at each hook, in the order they run (by priority).
    public static let tableOrder: [Hook: [String]] = [
        .prerouting: ["raw", "mangle", "nat"],
        .input: ["mangle", "filter", "security", "nat"],
        .forward: ["mangle", "filter", "security"],
        .output: ["raw", "mangle", "nat", "filter", "security"],
        .postrouting: ["mangle", "nat"],
    ]

    public static func hook(_ code: UInt8) -> Hook {
        switch code {
        case 0: return .prerouting
        case 1: return .input
        case 2: return .forward
        case 3: return .output
        case 4: return .postrouting
        default: return .unknown
        }
    }

    /// Tables of this family that run at `hook` after `table`.
    public func tables(after table: String, at hook: Hook, family: PacketSummary.Family) -> [String] {
        let order = Self.tableOrder[hook] ?? []
        let present = tables[family] ?? []
        guard let index = order.firstIndex(of: table) else { return [] }
        return order[(index + 1)...].filter { present.contains($0) }
    }

    public func hasTables(at hook: Hook, family: PacketSummary.Family) -> Bool {
        let present = tables[family] ?? []
        return (Self.tableOrder[hook] ?? []).contains { present.contains($0) }
    }
}

extension LegacyRuleset.Rule {
    /// No match and a standard target (`-A CHAIN -j ACCEPT|DROP|RETURN`): the kernel's
    /// `unconditional()` entry that TRACE calls a chain tail.
    public var isUnconditionalStandard: Bool {
        guard let target, !isGoto, ["ACCEPT", "DROP", "RETURN"].contains(target) else { return false }
        let words = LegacyRuleset.splitArguments(text)
        return words.count == 4 && words[0] == "-A" && words[2] == "-j"
    }

    /// The verdict the kernel applies when this rule matches.
    public var verdict: StepVerdict {
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

extension LegacyRuleset {
    public func rulesInChain(_ family: TableFamily, _ table: String, _ chain: String) -> [(position: Int, text: String, isIptables: Bool)] {
        guard let c = self.chain(family == .ip6 ? .ip6 : .ip, table, chain) else { return [] }
        return c.rules.map { ($0.position, $0.text, true) }
    }
}
