/// The assembler's questions about base chains, answered in the kernel's order (the ruleset's,
/// BaseChainOrder.swift), and what a packet's events teach about that order.
extension PathAssembler {
    /// After an accept that ends a base-chain run: can another base chain still see this packet?
    func moreChainsMayRun(after state: Pending) -> Bool {
        if state.bridged, let answer = moreChainsMayRunBridged(after: state) { return answer }
        let family = state.path.family
        let ctState = state.path.conntrack?.state
        // NAT chains only see the first packet of a connection.
        func mayRun(_ chain: Ruleset.BaseChain) -> Bool {
            if Self.isFwtraceTable(chain.key.table) && chain.key.family == .inet { return false }
            if chain.type == .nat, let ctState, ctState != .new { return false }
            return true
        }
        // Chains looked at by index: iterating would copy each chain (and retain its strings).
        // Those after the current run's chain in the kernel's order (equal priorities included).
        let here = ruleset.baseChains(at: state.hook, for: family)
        let next: Int
        // Without a peer of equal priority (the usual case) the priority alone says where the
        // run's chain is: no key comparisons per accept.
        if state.baseHasPeer, let base = state.baseChain, let i = here.indices.first(where: { here[$0].key == base }) {
            next = i + 1
        } else {
            let priority = state.basePriority ?? Int.min
            next = here.indices.first { (here[$0].priority ?? 0) > priority } ?? here.endIndex
        }
        if here.indices[next...].contains(where: { mayRun(here[$0]) }) { return true }
        // Every hook the packet can still reach (the order does not matter for "any").
        for hook in state.hook.reachableHooks {
            let chains = ruleset.baseChains(at: hook, for: family)
            if chains.indices.contains(where: { mayRun(chains[$0]) }) { return true }
        }
        return false
    }

    /// A bridged frame. Its later bridge hooks' chains can still run whatever chain the run is
    /// in. From a run in a bridge chain (or our bridge chain's mark, before any): the bridge's
    /// chains after it at this hook, and with br_netfilter the IP family's chains at this hook
    /// and later ones, which it calls from the bridge's hooks on the same skb. (A frame for the
    /// host itself, handed up from the bridge's input hook, is received again: the kernel gives
    /// it another trace id, and its IP steps are a path of their own, as nft monitor shows.)
    /// nil: the run is in an IP family's chain, whose own answer applies.
    func moreChainsMayRunBridged(after state: Pending) -> Bool? {
        let notOurs: (Ruleset.BaseChain) -> Bool = { !Self.isFwtraceTable($0.key.table) }
        if state.hook.reachableHooks.contains(where: { ruleset.bridgeBaseChains(at: $0).contains(where: notOurs) }) { return true }
        guard state.baseChain.map({ $0.family == .bridge }) ?? true else { return nil }
        let priority = state.basePriority ?? Int.min
        if ruleset.bridgeBaseChains(at: state.hook).contains(where: { ($0.priority ?? 0) > priority && notOurs($0) }) { return true }
        let family = state.path.family
        guard configuration.bridgeCallsIPChains.contains(family) else { return false }
        return ([state.hook] + state.hook.reachableHooks).contains { ruleset.baseChains(at: $0, for: family).contains(where: notOurs) }
    }

    /// A base-chain run starts in `key`, a chain that shares its hook and priority with others.
    /// The kernel runs every such chain for every packet (nat chains aside), so this packet's
    /// steps show its order: a peer ordered before `key` that has not run yet runs after it, and
    /// a peer ordered after `key` that already ran came before it. The ruleset's order is corrected.
    func learnBaseChainOrder(startingRunIn key: Ruleset.ChainKey, state: Pending) {
        let hook = state.hook, family = state.path.family
        let chains = ruleset.baseChains(at: hook, for: family)
        guard let index = chains.firstIndex(where: { $0.key == key }), chains[index].type != .nat else { return }
        let priority = chains[index].priority ?? 0
        var ranFirst: [Ruleset.ChainKey] = [], ranLater: [Ruleset.ChainKey] = []
        for (i, peer) in chains.enumerated() where i != index && (peer.priority ?? 0) == priority && peer.type != .nat {
            if peer.key.family == .inet && Self.isFwtraceTable(peer.key.table) { continue }
            let ran = state.path.steps.contains {
                $0.hook == hook && $0.chain == peer.key.chain && $0.table == peer.key.table && $0.tableFamily == peer.key.family
            }
            if i < index && !ran { ranLater.append(peer.key) }
            if i > index && ran { ranFirst.append(peer.key) }
        }
        for peer in ranLater { ruleset.noteKernelRan(key, before: peer, at: hook, for: family) }
        for peer in ranFirst { ruleset.noteKernelRan(peer, before: key, at: hook, for: family) }
    }
}
