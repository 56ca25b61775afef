import Foundation

/// The rules of one network namespace, as the user wrote them: built from the text of
/// `nft -a list ruleset` and, for the tables iptables-nft owns, `iptables-nft-save` (whose
/// rule order equals `iptables -L --line-numbers`). Pure parsing: the kernel side fetches the texts.
public struct RuleCatalog: Sendable {
    public struct ChainKey: Hashable, Sendable {
        public var family: TableFamily
        public var table: String
        public var chain: String
        public init(family: TableFamily, table: String, chain: String) {
            self.family = family; self.table = table; self.chain = chain
        }
    }

    public struct RuleKey: Hashable, Sendable {
        public var family: TableFamily
        public var table: String
        public var handle: UInt64
        public init(family: TableFamily, table: String, handle: UInt64) {
            self.family = family; self.table = table; self.handle = handle
        }
    }

    public struct Counters: Equatable, Sendable {
        public var packets: UInt64
        public var bytes: UInt64
    }

    public enum Syntax: String, Sendable { case nft, iptables }

    public struct Rule: Equatable, Sendable {
        public var handle: UInt64
        public var chain: String
        /// 1-based position in its chain.
        public var position: Int
        /// The rule as the user wrote it: iptables-save syntax for iptables-nft's tables, nft otherwise.
        public var text: String
        public var syntax: Syntax
        /// The rule in nft syntax, counters removed (what `nft list` shows, minus the numbers).
        public var nftText: String
        public var counters: Counters?
        /// The rule's action rejects (REJECT / reject): a drop that answers the sender.
        public var rejects: Bool
    }

    public struct Chain: Equatable, Sendable {
        public var key: ChainKey
        public var hook: Hook?
        public var priority: Int?
        /// Base chains only.
        public var type: ChainType?
        public var policy: String?
        public var ruleHandles: [UInt64] = []
        /// The table's and the chain's handles (`nft -a`): their creation order, which orders
        /// base chains of equal priority (BaseChainOrder.swift). Listing ordinals when absent.
        public var tableHandle: UInt64?
        public var handle: UInt64?
        /// Position in the listing (which prints tables and chains in creation order).
        var listingIndex = 0
        public var isBaseChain: Bool { hook != nil }
    }

    public private(set) var chains: [ChainKey: Chain] = [:]
    public private(set) var rules: [RuleKey: Rule] = [:]
    /// Tables that iptables-nft manages (their rule text is in iptables syntax).
    public private(set) var iptablesTables: Set<ChainKey> = []
    /// Base chains per hook and packet family, in run order: computed once per build, since the
    /// assembler asks on every accepting step.
    /// Indexed by hook index * 2 + (0 for IPv4, 1 for IPv6). The order is the kernel's as far as
    /// the listing tells it, corrected by what traces showed (BaseChainOrder.swift).
    var baseChainIndex: [[Chain]] = []
    /// Base chains that share their hook and priority with another one of the same packet family:
    /// only they need the order learned from traces.
    var chainsWithEqualPriorityPeers: Set<ChainKey> = []
    /// Tables with `flags dormant`: their base chains are not registered with any hook.
    var dormantTables: Set<ChainKey> = []
    /// Orders the kernel was seen to use, kept to be applied again to a reloaded catalog.
    public internal(set) var learnedOrder: [LearnedOrder] = []
    /// `rulesInChain` per chain, computed once per build: hints ask on every dropped path.
    private var chainRules: [ChainKey: [(position: Int, text: String, isIptables: Bool)]] = [:]

    public init() {}

    public func rule(family: TableFamily, table: String, handle: UInt64) -> Rule? {
        rules[RuleKey(family: family, table: table, handle: handle)]
    }

    public func chain(family: TableFamily, table: String, chain: String) -> Chain? {
        chains[ChainKey(family: family, table: table, chain: chain)]
    }

    public func chain(_ key: ChainKey) -> Chain? { chains[key] }

    /// Base chains that a packet of this family meets at `hook`, in the order they run.
    public func baseChains(at hook: Hook, for family: PacketSummary.Family) -> [Chain] {
        let i = hook.index * 2 + (family == .ip ? 0 : 1)
        return i < baseChainIndex.count ? baseChainIndex[i] : []
    }

    mutating func indexChainRules() {
        chainRules = [:]
        for (key, chain) in chains {
            chainRules[key] = chain.ruleHandles.compactMap { rule(family: key.family, table: key.table, handle: $0) }
                .map { ($0.position, $0.text, $0.syntax == .iptables) }
        }
    }

    public func hasBaseChains(at hook: Hook, for family: PacketSummary.Family) -> Bool {
        !baseChains(at: hook, for: family).isEmpty
    }

    // MARK: - Building

    /// Builds the catalog from `nft -a list ruleset` output and the `iptables-nft-save` outputs
    /// (keyed by family: .ip for iptables-nft-save, .ip6 for ip6tables-nft-save).
    public static func build(nftListing: String, iptablesSave: [TableFamily: String] = [:]) -> RuleCatalog {
        var catalog = RuleCatalog()
        catalog.parseNftListing(nftListing)
        for (family, text) in iptablesSave {
            catalog.applyIptablesSave(text, family: family)
        }
        catalog.indexBaseChains()
        catalog.indexChainRules()
        return catalog
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
        var table: (TableFamily, String)?
        var tableHandle: UInt64?
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
                if words.count >= 4 { table = (TableFamily(keyword: String(words[1])), String(words[2])) }
                tableHandle = handle
                depth = 1
                continue
            }
            if depth == 1 {
                if line.hasPrefix("flags "), line.contains("dormant"), let table {
                    dormantTables.insert(ChainKey(family: table.0, table: table.1, chain: ""))
                }
                if line.hasSuffix("{") {
                    depth = 2
                    if line.hasPrefix("chain "), let table {
                        let name = Self.unquote(String(line.dropFirst(6).dropLast(1)).trimmingCharacters(in: .whitespaces))
                        let key = ChainKey(family: table.0, table: table.1, chain: name)
                        chainKey = key
                        blockIsChain = true
                        chains[key] = Chain(key: key, tableHandle: tableHandle, handle: handle, listingIndex: chains.count)
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
                chains[key]?.policy = words[1]
            }
        }
    }

    mutating func addNftRule(_ text: String, handle: UInt64, chain key: ChainKey) {
        let (stripped, counters) = Self.stripCounters(text)
        let position = (chains[key]?.ruleHandles.count ?? 0) + 1
        chains[key]?.ruleHandles.append(handle)
        let rejects = stripped.range(of: #"(^| )reject( |$)"#, options: .regularExpression) != nil
        rules[RuleKey(family: key.family, table: key.table, handle: handle)] = Rule(
            handle: handle, chain: key.chain, position: position, text: stripped, syntax: .nft,
            nftText: stripped, counters: counters, rejects: rejects)
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

    /// Replaces the text of the rules of the tables that `iptables-nft-save` lists with the
    /// iptables syntax, matching rules by position in each chain. A chain whose rule count differs
    /// keeps the nft text: a wrong rule is worse than a less familiar one.
    mutating func applyIptablesSave(_ save: String, family: TableFamily) {
        // A table the save tool cannot render whole (native nft chains in `table ip filter`) is
        // announced by a comment ("# Table `filter' is incompatible, use 'nft' tool." or "…
        // contains incompatible base-chains…") and then rendered in part (`-A input_1` for a
        // rule it cannot express): such a table keeps nft syntax throughout.
        let incompatible = Set(save.split(separator: "\n").compactMap(Self.incompatibleTable))
        // The one iptables-save parser (LegacyRuleset's): fwtrace adds no rule to these tables.
        let packetFamily: PacketSummary.Family = family == .ip6 ? .ip6 : .ip
        let parsed = family == .ip6 ? LegacyRuleset.parse(ipv4: "", ipv6: save) : LegacyRuleset.parse(ipv4: save)
        for table in parsed.tables[packetFamily] ?? [] where !incompatible.contains(table) {
            iptablesTables.insert(ChainKey(family: family, table: table, chain: ""))
        }
        for (saved, chain) in parsed.chains where !incompatible.contains(saved.table) && !chain.rules.isEmpty {
            let key = ChainKey(family: family, table: saved.table, chain: saved.chain)
            guard let handles = chains[key]?.ruleHandles, handles.count == chain.rules.count else { continue }
            for (handle, rule) in zip(handles, chain.rules) {
                let ruleKey = RuleKey(family: family, table: saved.table, handle: handle)
                rules[ruleKey]?.text = rule.text
                rules[ruleKey]?.syntax = .iptables
                if rule.text.contains("-j REJECT") { rules[ruleKey]?.rejects = true }
            }
        }
    }

    /// The table a save tool's "# Table `NAME' … incompatible …" comment names.
    static func incompatibleTable(_ line: Substring) -> String? {
        guard line.hasPrefix("# Table `"), line.contains("incompatible") else { return nil }
        let name = line.dropFirst("# Table `".count).prefix { $0 != "'" }
        return name.isEmpty ? nil : String(name)
    }

    public func isIptablesTable(family: TableFamily, table: String) -> Bool {
        iptablesTables.contains(ChainKey(family: family, table: table, chain: ""))
    }
}

extension RuleCatalog {
    /// Rules of a chain in order, for hints.
    public func rulesInChain(_ family: TableFamily, _ table: String, _ chain: String) -> [(position: Int, text: String, isIptables: Bool)] {
        let key = ChainKey(family: family, table: table, chain: chain)
        if let indexed = chainRules[key] { return indexed }
        guard let c = self.chain(key) else { return [] }
        return c.ruleHandles.compactMap { rule(family: family, table: table, handle: $0) }
            .map { ($0.position, $0.text, $0.syntax == .iptables) }
    }
}

