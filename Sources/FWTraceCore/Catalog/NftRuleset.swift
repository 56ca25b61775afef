import Foundation

/// A native nftables ruleset, from what `nft -j list ruleset` prints: chains (base chain hook,
/// priority, type, policy), rules with their expressions, and set elements.
public struct NftRuleset: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var handle: UInt64
        /// 1-based in its chain.
        public var position: Int
        public var expressions: [NftJSON]
        public init(handle: UInt64, position: Int, expressions: [NftJSON]) {
            self.handle = handle; self.position = position; self.expressions = expressions
        }
    }

    public struct Chain: Sendable, Equatable {
        public var family: TableFamily
        public var table: String
        public var name: String
        public var hook: Hook?
        public var priority: Int?
        public var type: ChainType?
        public var policy: String?
        public var rules: [Rule]
        /// The chain's handle in its table, when the listing gave it.
        public var handle: UInt64?
        public var isBaseChain: Bool { hook != nil }
    }

    struct ObjectKey: Hashable, Sendable { var family: TableFamily; var table: String; var name: String }

    /// Chains in listing order.
    public private(set) var chains: [Chain] = []
    var chainIndex: [ObjectKey: Int] = [:]
    /// Elements of named sets and maps (a map element is `[key, value]`), by family, table and name.
    var sets: [ObjectKey: [NftJSON]] = [:]

    public init() {}

    public static func parse(json: String) throws -> NftRuleset {
        NftRuleset(listings: [try NftListing(json: json)])
    }

    /// The ruleset from several listings read in turn (`list chain …` for each chain, `list set …`
    /// for each set: how RulesetReader reads it on libnftables releases that cannot print a
    /// one-flag table), their objects taken in order as if they were one `list ruleset`.
    public init(listings: [NftListing]) {
        for listing in listings {
            for (kind, body) in listing.items {
                switch kind {
                case "chain": addChain(body)
                case "rule": addRule(body)
                case "set", "map":
                    guard let key = Self.objectKey(body, nameKey: "name") else { continue }
                    sets[key] = body["elem"]?.array ?? []
                default: continue   // table, flowtable, counter, quota, ct helper, ...
                }
            }
        }
    }

    static func objectKey(_ body: NftJSON, nameKey: String) -> ObjectKey? {
        guard let family = body["family"]?.string, let table = body["table"]?.string,
              let name = body[nameKey]?.string else { return nil }
        return ObjectKey(family: TableFamily(keyword: family), table: table, name: name)
    }

    mutating func addChain(_ body: NftJSON) {
        guard let key = Self.objectKey(body, nameKey: "name") else { return }
        var priority: Int?
        switch body["prio"] {
        case .number?: priority = body["prio"]?.int
        case .string(let s)?: priority = RuleCatalog.parsePriority(s)
        default: priority = nil
        }
        let chain = Chain(family: key.family, table: key.table, name: key.name,
                          hook: body["hook"]?.string.map { Hook(rawValue: $0) ?? .unknown },
                          priority: priority, type: body["type"]?.string.flatMap(ChainType.init(rawValue:)), policy: body["policy"]?.string, rules: [],
                          handle: body["handle"]?.number.flatMap { $0 >= 0 ? UInt64(exactly: $0) : nil })
        if let i = chainIndex[key] { chains[i] = chain } else { chainIndex[key] = chains.count; chains.append(chain) }
    }

    mutating func addRule(_ body: NftJSON) {
        guard let key = Self.objectKey(body, nameKey: "chain") else { return }
        if chainIndex[key] == nil {
            chainIndex[key] = chains.count
            chains.append(Chain(family: key.family, table: key.table, name: key.name, rules: []))
        }
        let i = chainIndex[key]!
        let handle = body["handle"]?.number.flatMap { $0 >= 0 ? UInt64(exactly: $0) : nil } ?? 0
        chains[i].rules.append(Rule(handle: handle, position: chains[i].rules.count + 1,
                                    expressions: body["expr"]?.array ?? []))
    }

    public func chain(_ family: TableFamily, _ table: String, _ name: String) -> Chain? {
        chainIndex[ObjectKey(family: family, table: table, name: name)].map { chains[$0] }
    }

    /// The elements of a named set or map (without the leading "@"); nil when there is none.
    /// A map element is a two-element array `[key, value]`.
    public func setElements(_ family: TableFamily, _ table: String, _ name: String) -> [NftJSON]? {
        sets[ObjectKey(family: family, table: table, name: name)]
    }

    /// Base chains a packet of this family meets at `hook` (ip+inet for IPv4, ip6+inet for IPv6),
    /// in BaseChainOrder's order: tables by first appearance in the listing, chains by handle.
    /// (explain takes the order from the RuleCatalog, which has the tables' handles.)
    public func baseChains(at hook: Hook, for family: PacketSummary.Family) -> [Chain] {
        let families: Set<TableFamily> = family == .ip ? [.ip, .inet] : [.ip6, .inet]
        var tableRank: [ObjectKey: UInt64] = [:]
        for chain in chains {
            let key = ObjectKey(family: chain.family, table: chain.table, name: "")
            if tableRank[key] == nil { tableRank[key] = UInt64(tableRank.count) }
        }
        func created(_ offset: Int, _ chain: Chain) -> BaseChainOrder.Creation {
            (tableRank[ObjectKey(family: chain.family, table: chain.table, name: "")] ?? 0, chain.handle ?? UInt64(offset))
        }
        let found = chains.enumerated().filter { families.contains($0.element.family) && $0.element.hook == hook }
        return found.sorted { a, b in
            BaseChainOrder.runsBefore(priority: a.element.priority ?? 0, created: created(a.offset, a.element),
                                      priority: b.element.priority ?? 0, created: created(b.offset, b.element))
        }.map(\.element)
    }
}
