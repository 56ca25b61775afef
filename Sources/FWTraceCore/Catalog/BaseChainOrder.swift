/// The order in which the kernel runs the base chains registered at one hook.
///
/// `nf_hook_entries_grow` (net/netfilter/core.c) inserts a new hook before the first one already
/// there whose priority is >= its own: by priority, and at equal priority the chain registered
/// LATER runs FIRST. A chain registers when it is created, and the kernel does not say when that
/// was (`nft list hooks` needs CONFIG_NETFILTER_NETLINK_HOOK). Creation order is read from the
/// handles: table handles grow per namespace, chain handles per table, so (table handle, chain
/// handle) descending is the order whenever a table's chains were created with the table (nft -f,
/// iptables-nft, firewalld, docker). A chain added later to an older table breaks it; follow then
/// learns the true order from the trace (`noteKernelRan`). docs/decisions.md, "Base chains of equal
/// priority".
public enum BaseChainOrder {
    /// When a chain was created, as far as a listing tells: (table, chain), greater is newer.
    public typealias Creation = (table: UInt64, chain: UInt64)

    /// Whether a chain runs before another at the same hook, by the listing alone.
    public static func runsBefore(priority a: Int, created ca: Creation, priority b: Int, created cb: Creation) -> Bool {
        a != b ? a < b : (ca.table, ca.chain) > (cb.table, cb.chain)
    }
}

extension Ruleset {
    /// A base chain as the order holds it: only what the assembler asks per event (a whole Chain,
    /// with its rules, would be retained and released at every look).
    public struct BaseChain: Equatable, Sendable {
        public var key: ChainKey
        public var priority: Int?
        public var type: ChainType?
    }

    /// One order the kernel was seen to use: at `hook`, for packets of `family`, `first` ran
    /// before `second` (both at the same priority).
    public struct LearnedOrder: Equatable, Sendable {
        public var hook: Hook
        public var family: PacketSummary.Family
        public var first: ChainKey
        public var second: ChainKey
    }

    /// When a chain was created, as far as the listing tells: the handles when it had them
    /// (`nft -a`); else the listing's order, which is creation order too (tables and chains are
    /// printed from lists they are appended to).
    func creation(of chain: Chain) -> BaseChainOrder.Creation {
        if let tableHandle = tables[chain.key.tableKey]?.handle, let handle = chain.handle { return (tableHandle, handle) }
        return (0, UInt64(chain.listingIndex))
    }

    mutating func indexBaseChains() {
        baseChainIndex = Array(repeating: [], count: Hook.allCases.count * 2)
        bridgeChainIndex = Array(repeating: [], count: Hook.allCases.count)
        chainsWithEqualPriorityPeers = []
        let registered = chains.values.filter { $0.hook != nil && tables[$0.key.tableKey]?.dormant != true }
            .map { (chain: $0, created: creation(of: $0)) }
        for hook in Hook.allCases {
            for family in [PacketSummary.Family.ip, .ip6] {
                // netdev chains share the ingress (and egress) hook with inet's, ordered by priority.
                let families: Set<TableFamily> = family == .ip ? [.ip, .inet, .netdev] : [.ip6, .inet, .netdev]
                let sorted = registered
                    .filter { $0.chain.hook == hook && families.contains($0.chain.key.family) }
                    .sorted { a, b in
                        BaseChainOrder.runsBefore(priority: a.chain.priority ?? 0, created: a.created,
                                                  priority: b.chain.priority ?? 0, created: b.created)
                    }
                    .map { BaseChain(key: $0.chain.key, priority: $0.chain.priority, type: $0.chain.type) }
                baseChainIndex[hook.index * 2 + (family == .ip ? 0 : 1)] = sorted
                if family == .ip {
                    bridgeChainIndex[hook.index] = registered.filter { $0.chain.hook == hook && $0.chain.key.family == .bridge }
                        .sorted { BaseChainOrder.runsBefore(priority: $0.chain.priority ?? 0, created: $0.created, priority: $1.chain.priority ?? 0, created: $1.created) }
                        .map { BaseChain(key: $0.chain.key, priority: $0.chain.priority, type: $0.chain.type) }
                }
                for (i, chain) in sorted.enumerated() where i > 0 && (sorted[i - 1].priority ?? 0) == (chain.priority ?? 0) {
                    chainsWithEqualPriorityPeers.insert(chain.key)
                    chainsWithEqualPriorityPeers.insert(sorted[i - 1].key)
                }
            }
        }
    }

    /// Whether another base chain runs at the same hook and priority as this one (for either
    /// packet family): only then can the listing's order be wrong.
    public func hasEqualPriorityPeer(_ key: ChainKey) -> Bool { chainsWithEqualPriorityPeers.contains(key) }

    /// The trace showed that the kernel ran `first` before `second` at `hook` (same priority):
    /// where the order had them the other way, `first` moves to just before `second`. Returns
    /// whether the order changed.
    @discardableResult
    public mutating func noteKernelRan(_ first: ChainKey, before second: ChainKey, at hook: Hook,
                                       for family: PacketSummary.Family) -> Bool {
        let slot = hook.index * 2 + (family == .ip ? 0 : 1)
        guard slot < baseChainIndex.count else { return false }
        let chains = baseChainIndex[slot]
        guard let i = chains.firstIndex(where: { $0.key == first }), let j = chains.firstIndex(where: { $0.key == second }),
              i > j, (chains[i].priority ?? 0) == (chains[j].priority ?? 0) else { return false }
        let moved = baseChainIndex[slot].remove(at: i)
        baseChainIndex[slot].insert(moved, at: j)
        let learned = LearnedOrder(hook: hook, family: family, first: first, second: second)
        learnedOrder.removeAll { $0.hook == hook && $0.family == family && $0.first == second && $0.second == first }
        if !learnedOrder.contains(learned) { learnedOrder.append(learned) }
        return true
    }

    /// Applies what an older ruleset learned to this one (a reload keeps what traces showed).
    public mutating func adoptLearnedOrder(from older: Ruleset) {
        for order in older.learnedOrder {
            noteKernelRan(order.first, before: order.second, at: order.hook, for: order.family)
        }
        // Kept even where the listing already agrees: the next reload may not.
        learnedOrder = older.learnedOrder
    }
}
