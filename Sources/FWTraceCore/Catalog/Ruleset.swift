import Foundation

/// The rules of one network namespace: the one rule model of follow, explain and the hints, for
/// both backends. Filled by one parser per source format, each in its own file:
/// `nft -a list ruleset` text (Ruleset+NftText.swift), `nft -j list ruleset` JSON
/// (Ruleset+NftJSON.swift) and iptables-save of either backend (Ruleset+IptablesSave.swift).
/// follow on nft reads the text listing plus iptables-nft-save and the JSON for the hints; explain
/// the text and the JSON; the legacy backend iptables-legacy-save alone. Pure parsing: the kernel
/// side fetches the texts.
public struct Ruleset: Sendable {
    public struct TableKey: Hashable, Sendable {
        public var family: TableFamily
        public var name: String
        public init(family: TableFamily, name: String) { self.family = family; self.name = name }
    }

    public struct ChainKey: Hashable, Sendable {
        public var family: TableFamily
        public var table: String
        public var chain: String
        public init(family: TableFamily, table: String, chain: String) {
            self.family = family; self.table = table; self.chain = chain
        }
        var tableKey: TableKey { TableKey(family: family, name: table) }
    }

    /// A named set or map of a table.
    struct SetKey: Hashable, Sendable {
        var family: TableFamily
        var table: String
        var name: String
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

    /// The syntax a table's rules are shown in: iptables-save's for the tables an iptables tool
    /// manages, nft's otherwise.
    public enum Syntax: String, Sendable { case nft, iptables }

    /// The source formats a ruleset was filled from.
    public enum Source: Sendable { case nftText, nftJSON, iptablesSave }

    public struct Table: Equatable, Sendable {
        public var family: TableFamily
        public var name: String
        /// `nft -a`'s handle: tables' creation order, which orders base chains of equal priority.
        public var handle: UInt64?
        /// `flags dormant`: its base chains are not registered with any hook.
        public var dormant = false
        public var syntax: Syntax = .nft
    }

    public struct Chain: Equatable, Sendable {
        public var key: ChainKey
        /// Base chains only (iptables-save names no hook: its tables run in a fixed order).
        public var hook: Hook?
        public var priority: Int?
        public var type: ChainType?
        /// Base chains (and iptables' built-in chains) only.
        public var policy: ChainPolicy?
        /// The chain's handle in its table (`nft -a`), its creation order among the table's chains.
        public var handle: UInt64?
        /// In position order.
        public var rules: [Rule] = []
        /// Positions (in the kernel's numbering) of fwtrace's own rules, left out of `rules`
        /// (iptables-legacy: fwtrace's TRACE rules sit in the user's raw chains).
        public var ownPositions: [Int] = []
        /// Position in the listing (which prints tables and chains in creation order).
        var listingIndex = 0
        /// Who wrote the chain (its end and its rules that have none) and its policy; set by adoptOwners.
        public var owner: RuleOwner?
        public var policyOwner: RuleOwner?
        public var isBaseChain: Bool { hook != nil }

        public init(key: ChainKey, hook: Hook? = nil, priority: Int? = nil, type: ChainType? = nil,
                    policy: ChainPolicy? = nil, handle: UInt64? = nil) {
            self.key = key; self.hook = hook; self.priority = priority; self.type = type
            self.policy = policy; self.handle = handle
        }
    }

    public struct Rule: Equatable, Sendable {
        /// nf_tables' handle; nil for iptables-legacy rules, which have none.
        public var handle: UInt64?
        public var chain: String
        /// 1-based position in its chain, as `iptables -L --line-numbers` numbers it.
        public var position: Int
        /// The rule as the user wrote it, in its table's syntax; nil when only the JSON listing
        /// (which has expressions, not text) was read.
        public var text: String?
        public var syntax: Syntax
        /// The rule in nft syntax, counters removed (what `nft list` shows, minus the numbers).
        public var nftText: String?
        public var counters: Counters?
        /// The rule's action rejects (REJECT / reject): a drop that answers the sender.
        public var rejects = false
        /// The rule's expressions as `nft -j` lists them (what NftRuleEvaluator reads); nil when
        /// no JSON listing was read.
        public var expressions: [NftJSON]?
        /// iptables-save rules: what `-j`/`-g` names (ACCEPT, DROP, a user chain, LOG, …).
        public var target: String?
        public var isGoto = false
        /// The target is a chain of the same table (a jump or goto), not an extension target.
        public var targetIsChain = false
        /// Who wrote it (nil: the admin); set by adoptOwners.
        public var owner: RuleOwner?

        public init(handle: UInt64?, chain: String, position: Int, text: String?, syntax: Syntax) {
            self.handle = handle; self.chain = chain; self.position = position; self.text = text; self.syntax = syntax
        }
    }

    /// What the listings said, as they said it.
    public internal(set) var tables: [TableKey: Table] = [:]
    public internal(set) var chains: [ChainKey: Chain] = [:]
    /// Elements of named sets and maps (a map element is `[key, value]`), from the JSON listing.
    var sets: [SetKey: [NftJSON]] = [:]
    public internal(set) var sources: Set<Source> = []
    /// The managers' own state the owners were named from (withOwners); the hints read it too.
    /// Held by one reference: the assemblers copy the ruleset, and ToolState's many strings and
    /// tables would each be retained on every copy.
    public internal(set) var tools: ToolState {
        get { toolsBox?.state ?? ToolState() }
        set { toolsBox = ToolsBox(newValue) }
    }
    private var toolsBox: ToolsBox?
    private final class ToolsBox: Sendable {
        let state: ToolState
        init(_ state: ToolState) { self.state = state }
    }

    // Indexes, computed once per fill (`index()`): the assembler asks on every event and the
    // hints on every dropped path.
    /// Rules by handle, across their chains.
    var rulesByHandle: [RuleKey: Rule] = [:]
    /// Base chains per hook and packet family, in run order. Indexed by hook index * 2 + (0 for
    /// IPv4, 1 for IPv6). The order is the kernel's as far as the listing tells it, corrected by
    /// what traces showed (BaseChainOrder.swift).
    var baseChainIndex: [[BaseChain]] = []
    /// The bridge family's base chains per hook (Hook.index), in the kernel's order.
    var bridgeChainIndex: [[BaseChain]] = []
    /// Base chains that share their hook and priority with another one of the same packet family:
    /// only they need the order learned from traces.
    var chainsWithEqualPriorityPeers: Set<ChainKey> = []
    /// Orders the kernel was seen to use, kept to be applied again to a reloaded ruleset.
    public internal(set) var learnedOrder: [LearnedOrder] = []
    /// `rulesInChain` per chain (rules with text only).
    private var chainRules: [ChainKey: [(position: Int, text: String, isIptables: Bool)]] = [:]
    /// Table names per family: iptables' tables run in a fixed order, asked on every accept.
    private var tableNames: [TableFamily: Set<String>] = [:]

    public init() {}

    public func rule(family: TableFamily, table: String, handle: UInt64) -> Rule? {
        rulesByHandle[RuleKey(family: family, table: table, handle: handle)]
    }

    public func chain(_ family: TableFamily, _ table: String, _ chain: String) -> Chain? {
        chains[ChainKey(family: family, table: table, chain: chain)]
    }

    public func chain(_ key: ChainKey) -> Chain? { chains[key] }

    /// The chains in listing order.
    public var chainsInListingOrder: [Chain] { chains.values.sorted { $0.listingIndex < $1.listingIndex } }

    /// The elements of a named set or map (without the leading "@"); nil when there is none.
    /// A map element is a two-element array `[key, value]`.
    public func setElements(_ family: TableFamily, _ table: String, _ name: String) -> [NftJSON]? {
        sets[SetKey(family: family, table: table, name: name)]
    }

    public func isIptablesTable(family: TableFamily, table: String) -> Bool {
        tables[TableKey(family: family, name: table)]?.syntax == .iptables
    }

    /// The names of the tables of this family.
    public func tableNames(_ family: TableFamily) -> Set<String> { tableNames[family] ?? [] }

    /// Base chains that a packet of this family meets at `hook`, in the order they run.
    public func baseChains(at hook: Hook, for family: PacketSummary.Family) -> [BaseChain] {
        let i = hook.index * 2 + (family == .ip ? 0 : 1)
        return i < baseChainIndex.count ? baseChainIndex[i] : []
    }

    /// The bridge family's base chains at a hook, in the kernel's order.
    public func bridgeBaseChains(at hook: Hook) -> [BaseChain] {
        hook.index < bridgeChainIndex.count ? bridgeChainIndex[hook.index] : []
    }

    public func hasBaseChains(at hook: Hook, for family: PacketSummary.Family) -> Bool {
        !baseChains(at: hook, for: family).isEmpty
    }

    /// Rules of a chain in order, for hints: those with text (position, text, in iptables syntax?).
    public func rulesInChain(_ family: TableFamily, _ table: String, _ chain: String) -> [(position: Int, text: String, isIptables: Bool)] {
        chainRules[ChainKey(family: family, table: table, chain: chain)] ?? []
    }

    /// Computes the indexes from what the listings said: after every fill.
    mutating func index() {
        rulesByHandle = [:]
        chainRules = [:]
        tableNames = [:]
        for (key, chain) in chains {
            for rule in chain.rules {
                if let handle = rule.handle { rulesByHandle[RuleKey(family: key.family, table: key.table, handle: handle)] = rule }
            }
            chainRules[key] = chain.rules.compactMap { rule in rule.text.map { (rule.position, $0, rule.syntax == .iptables) } }
        }
        for key in tables.keys { tableNames[key.family, default: []].insert(key.name) }
        indexBaseChains()
    }

    /// The table of a chain, made when a listing names a chain before (or without) its table.
    mutating func noteTable(_ key: TableKey) {
        if tables[key] == nil { tables[key] = Table(family: key.family, name: key.name) }
    }

    /// Adds a chain at the end of the listing order (or replaces one of the same name in place).
    mutating func addChain(_ chain: Chain) {
        var chain = chain
        chain.listingIndex = chains[chain.key]?.listingIndex ?? chains.count
        noteTable(chain.key.tableKey)
        chains[chain.key] = chain
    }
}

extension Ruleset: Equatable {
    /// What the listings said; the indexes follow from it (and what traces taught is not compared).
    public static func == (a: Ruleset, b: Ruleset) -> Bool {
        a.tables == b.tables && a.chains == b.chains && a.sets == b.sets
    }
}

/// A chain's policy: what happens to a packet at the end of a base chain (nft `policy accept;`,
/// iptables `:INPUT DROP`). The kernel knows only these two.
public enum ChainPolicy: String, Sendable {
    case accept, drop

    /// Either syntax's word: DROP or drop is drop; anything else accepts, as the kernel does.
    init(word: some StringProtocol) {
        self = word.lowercased() == "drop" ? .drop : .accept
    }
}
