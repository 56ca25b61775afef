/// Groups nft trace events into one path per packet.
///
/// The trace id alone does not identify a packet (it is a hash of the skb address, flow and input
/// interface: it repeats for later packets of a flow). fwtrace's own base chains run first at
/// their hook (priority -350) and set the trace bit, so the event of our own trace rule (which
/// carries a header dump) marks the start of a new packet; every other base-chain run of the same trace id
/// continues that packet as long as the hook order and the packet's identity allow it.
public final class PathAssembler {
    public struct Configuration: Sendable {
        /// Our own table: its events start paths and are hidden.
        public var ownTable: String
        /// Hook of each of our own base chains.
        public var ownChains: [String: Hook]
        /// Emit a path this long after its last event when no verdict ended it.
        public var quietPeriod: Double = 0.1
        /// At most this many packets in flight; the oldest is emitted (marked incomplete) first.
        public var maxPending: Int = 4096
        /// A path older than this is emitted even if events keep arriving.
        public var maxAge: Double = 5
        /// The one transport protocol our trace rule matches, if the filter names one: it tells
        /// the protocol behind IPv6 extension headers that the kernel's header dump cuts off.
        public var filterProtocol: UInt8?
        /// br_netfilter hands a bridged frame of these families to their chains too (the traced
        /// namespace's net.bridge.bridge-nf-call-iptables and -ip6tables: 1 by default once
        /// br_netfilter is loaded).
        public var bridgeCallsIPChains: Set<PacketSummary.Family> = [.ip, .ip6]

        public init(ownTable: String, ownChains: [String: Hook] = ["pre": .prerouting, "out": .output]) {
            self.ownTable = ownTable
            self.ownChains = ownChains
        }
    }

    /// A packet in flight. A class, so that appending a step mutates it where it lies in the
    /// pending table: as a struct, every event copied the path (and its steps) out and back.
    final class Pending {
        var path: PacketPath
        var hook: Hook
        var baseChain: Ruleset.ChainKey?
        var basePriority: Int?
        /// The run's base chain shares its hook and priority with another (see moreChainsMayRun).
        var baseHasPeer = false
        /// The type of the base chain this run started in: a regular chain it reaches runs as
        /// that type (firewalld's nat_POST_public_allow is NAT because nat_POSTROUTING is).
        var baseType: ChainType?
        var lastDump: PacketSummary
        var lastEventTime: Double
        /// The conntrack attributes merged last: every base-chain run repeats them, mostly unchanged.
        var lastConntrack: NftTraceEvent.Conntrack?
        /// Marked by our bridge chain: a frame a bridge took in.
        var bridged = false

        init(path: PacketPath, hook: Hook, baseChain: Ruleset.ChainKey?, basePriority: Int?,
             lastDump: PacketSummary, lastEventTime: Double) {
            self.path = path; self.hook = hook; self.baseChain = baseChain; self.basePriority = basePriority
            self.lastDump = lastDump; self.lastEventTime = lastEventTime
        }

        /// A base-chain run starts in `key`.
        func enterBaseChain(_ key: Ruleset.ChainKey, _ entry: ChainEntry) {
            baseChain = key; basePriority = entry.priority; baseHasPeer = entry.hasEqualPriorityPeer; baseType = entry.type
        }
    }

    public let configuration: Configuration
    /// Replaced only through `replaceRuleset` (learning the base-chain order mutates it in place,
    /// which must neither empty the chain cache nor copy the ruleset).
    public internal(set) var ruleset: Ruleset

    /// The ruleset read again: the chain cache is emptied, and the base-chain order traces
    /// showed is kept (BaseChainOrder.swift).
    public func replaceRuleset(_ fresh: Ruleset) {
        var fresh = fresh
        fresh.adoptLearnedOrder(from: ruleset)
        ruleset = fresh
        recentChains.removeAll(keepingCapacity: true)
    }

    /// A chain met recently: what the ruleset says of it and the rules found in it by handle.
    /// Events name their chain by strings, and the ruleset's dictionaries hash them on every
    /// lookup; a path meets a handful of chains, so a short list compared by equality finds them
    /// for less. Emptied whenever the ruleset is replaced.
    final class ChainEntry {
        let family: TableFamily
        let table: String
        let name: String
        // The chain's fields asked on every event, kept apart: reading them through a stored
        // Chain copied the whole Chain (and retained its strings) each time.
        /// The ruleset has the chain.
        let known: Bool
        let hook: Hook?
        let priority: Int?
        let type: ChainType?
        let isBaseChain: Bool?
        /// Another base chain shares its hook and priority: its runs teach the kernel's order.
        let hasEqualPriorityPeer: Bool
        var rules: [UInt64: StepRule] = [:]
        /// The owner of the chain's end (and of its rules that have none of their own), and of its
        /// policy (adopted into the ruleset once per load).
        let owner: RuleOwner?
        let policyOwner: RuleOwner?
        init(family: TableFamily, table: String, name: String, chain: Ruleset.Chain?, hasEqualPriorityPeer: Bool) {
            self.family = family; self.table = table; self.name = name
            owner = chain?.owner
            policyOwner = chain?.policyOwner
            known = chain != nil
            hook = chain?.hook; priority = chain?.priority; type = chain?.type; isBaseChain = chain?.isBaseChain
            self.hasEqualPriorityPeer = hasEqualPriorityPeer
        }
    }
    private var recentChains: [ChainEntry] = []

    func chainEntry(_ family: TableFamily, _ table: String, _ name: String) -> ChainEntry {
        for entry in recentChains where entry.family == family && entry.name == name && entry.table == table { return entry }
        if recentChains.count >= 64 { recentChains.removeAll(keepingCapacity: true) }
        let key = Ruleset.ChainKey(family: family, table: table, chain: name)
        let entry = ChainEntry(family: family, table: table, name: name, chain: ruleset.chain(key),
                               hasEqualPriorityPeer: ruleset.hasEqualPriorityPeer(key))
        recentChains.append(entry)
        return entry
    }

    /// What a step takes from its rule, shared by reference: a Rule (four strings) was
    /// copied out of the chain's table for every rule event.
    final class StepRule {
        let chain: String
        let position: Int
        let text: String?
        let counters: Ruleset.Counters?
        let rejects: Bool
        let owner: RuleOwner?
        init(_ rule: Ruleset.Rule) {
            chain = rule.chain; position = rule.position; text = rule.text; counters = rule.counters; rejects = rule.rejects
            owner = rule.owner
        }
    }

    /// A rule of the event's table by handle (the ruleset's answer, remembered on the chain).
    func rule(_ entry: ChainEntry, handle: UInt64) -> StepRule? {
        if let known = entry.rules[handle] { return known }
        guard let found = ruleset.rule(family: entry.family, table: entry.table, handle: handle) else { return nil }
        let rule = StepRule(found)
        entry.rules[handle] = rule
        return rule
    }
    /// Set when the last event named a chain or rule handle the ruleset lacks (the ruleset
    /// changed): the event was not taken, and nothing changed. Hand in a fresh ruleset, or keep
    /// this one, and ingest the same event again: then it is taken with what the ruleset knows.
    public private(set) var metUnknownRule = false
    /// Whether an unknown chain or rule stops the event (the trace pipeline reloads then); off,
    /// the event is taken with what the ruleset knows.
    public var stopsOnUnknownRules = false
    /// Resolves an interface index to its name in the traced namespace.
    public var interfaceName: (UInt32) -> String? = { _ in nil }

    private var pending: [UInt32: Pending] = [:]
    /// Start order of pending paths (trace id, start time), oldest first, for O(1) eviction.
    /// Entries whose path already ended are skipped when they reach the front.
    private var startOrder: [(id: UInt32, time: Double)] = []
    private var startOrderHead = 0
    public private(set) var evicted = 0
    public private(set) var ignoredEvents = 0
    /// Paths started: packets of which our own trace rule's event was received.
    public private(set) var started = 0

    public init(configuration: Configuration, ruleset: Ruleset) {
        self.configuration = configuration
        self.ruleset = ruleset
    }

    public var pendingCount: Int { pending.count }

    /// Drops start-order entries of paths that already ended, so the list stays as small as the
    /// pending table.
    private func compactStartOrder() {
        guard startOrder.count - startOrderHead > 2 * configuration.maxPending + 1024 else { return }
        startOrder = startOrder[startOrderHead...].filter { pending[$0.id]?.path.time == $0.time }
        startOrderHead = 0
    }

    static func isFwtraceTable(_ name: String) -> Bool { name == "fwtrace" || name.hasPrefix("fwtrace_") }

    /// Our chains by the installer's names, for a capture replayed without the session's list:
    /// `pre` and `bpre` (the bridge's) at prerouting, `out` at output, `in<N>` at ingress.
    static func ownChainHook(_ chain: String) -> Hook? {
        switch chain {
        case "pre", "bpre": return .prerouting
        case "out": return .output
        default:
            guard chain.hasPrefix("in"), chain.count > 2, chain.dropFirst(2).allSatisfy(\.isASCII), Int(chain.dropFirst(2)) != nil else { return nil }
            return .ingress
        }
    }

    /// Feeds one event; returns the paths whose fate it decided (and any it displaced).
    public func ingest(_ event: NftTraceEvent, at time: Double) -> [PacketPath] {
        var out: [PacketPath] = []
        // A stop is said once: the same event fed again right after it is taken as it is.
        let mayStop = stopsOnUnknownRules && !metUnknownRule
        metUnknownRule = false
        // Our tables: `inet`, and `netdev` and `bridge` where the ruleset has chains there.
        let ownFamily = event.tableFamily == .inet || event.tableFamily == .netdev || event.tableFamily == .bridge
        let isOwnTable = ownFamily && event.table == configuration.ownTable
        // Our own table first: a String compare (the name cache's same String) spares the prefix test.
        let isInternal = isOwnTable || (ownFamily && Self.isFwtraceTable(event.table))

        if event.startsBaseChainRun {
            var summary = event.networkHeader.flatMap {
                try? PacketHeaders.parse(network: $0, transport: event.transportHeader, nfproto: event.nfproto)
            }
            if summary != nil, let known = configuration.filterProtocol {
                PacketHeaders.resolveProtocol(&summary!, protocol: known, transport: event.transportHeader)
            }
            // Only our own trace rule matching starts a path: when another session's table set
            // the trace bit first, our chain is traced too, but its policy event is not ours.
            if isOwnTable, event.kind == .rule, event.ruleHandle != nil,
               let hook = configuration.ownChains[event.chain] ?? Self.ownChainHook(event.chain), let summary {
                return ownTraceRule(event, hook: hook, packet: summary, at: time)
            }
            guard let state = pending[event.traceID] else { ignoredEvents += 1; return out }
            if isInternal { state.lastEventTime = time; return out }
            let key = Ruleset.ChainKey(family: event.tableFamily, table: event.table, chain: event.chain)
            let entry = chainEntry(event.tableFamily, event.table, event.chain)
            if !entry.known && mayStop { metUnknownRule = true; return out }
            let hook = entry.hook ?? .unknown
            let samePacket = (hook == .unknown || state.hook.canReach(hook)) && summary.map { Self.sameIdentity(state.lastDump, $0) } ?? true
            if !samePacket {
                // A packet our chains did not mark (looped back, or its start was lost): not ours.
                pending.removeValue(forKey: event.traceID)
                out.append(finish(state, incomplete: true))
                ignoredEvents += 1
                return out
            }
            let rule = self.rule(of: event, in: entry)
            if rule.missing && mayStop { metUnknownRule = true; return out }
            if let summary {
                state.path.noteRewrite(from: state.lastDump, to: summary) { $0.chainType == .nat }
                state.lastDump = summary
            }
            if let oif = event.oif, let name = interfaceName(oif) { state.path.oif = name }
            if state.path.iif == nil, let iif = event.iif { state.path.iif = interfaceName(iif) }
            // Merging the same attributes again changes nothing: skip it.
            if let ct = event.conntrack, ct != state.lastConntrack { mergeConntrack(&state.path, ct); state.lastConntrack = ct }
            state.hook = hook == .unknown ? state.hook : hook
            if entry.hasEqualPriorityPeer { learnBaseChainOrder(startingRunIn: key, state: state) }
            state.enterBaseChain(key, entry)
            return step(event, state: state, entry: entry, rule: rule.found, at: time, out: out)
        }
        guard let state = pending[event.traceID] else { ignoredEvents += 1; return out }
        if isInternal { state.lastEventTime = time; return out }
        let entry = chainEntry(event.tableFamily, event.table, event.chain)
        let rule = self.rule(of: event, in: entry)
        if rule.missing && mayStop { metUnknownRule = true; return out }
        return step(event, state: state, entry: entry, rule: rule.found, at: time, out: out)
    }

    /// The ruleset's rule for the event's handle, looked up before anything changes, so that an
    /// unknown one can stop the event untaken. `missing`: the event has a handle the ruleset lacks
    /// (asked only of events that make a step: not those of unknown kind).
    func rule(of event: NftTraceEvent, in entry: ChainEntry) -> (found: StepRule?, missing: Bool) {
        if case .unknown = event.kind { return (nil, false) }
        guard let handle = event.ruleHandle else { return (nil, false) }
        let found = rule(entry, handle: handle)
        return (found, found == nil)
    }

    /// Our own trace rule matched: a new packet, unless our ingress chain marked this one
    /// already and our prerouting rule marks it again (then it goes on).
    private func ownTraceRule(_ event: NftTraceEvent, hook: Hook, packet summary: PacketSummary, at time: Double) -> [PacketPath] {
        if let state = pending[event.traceID], state.hook.canReach(hook), Self.sameIdentity(state.lastDump, summary) {
            state.lastEventTime = time
            // Marked at ingress, then by our bridge chain: a frame the bridge took in.
            if event.tableFamily == .bridge { state.bridged = true }
            return []
        }
        return startPath(event, hook: hook, packet: summary, at: time)
    }

    /// Our own trace rule's event: a new packet (a path pending under the same id ends, incomplete).
    private func startPath(_ event: NftTraceEvent, hook: Hook, packet summary: PacketSummary, at time: Double) -> [PacketPath] {
        var out: [PacketPath] = []
        if let previous = pending.removeValue(forKey: event.traceID) { out.append(finish(previous, incomplete: true)) }
        var path = PacketPath(traceID: event.traceID, family: summary.family, time: time, packet: summary)
        // Room for a typical path at once (growing 1, 2, 4, 8 cost three reallocations).
        path.steps.reserveCapacity(8)
        path.iif = event.iif.flatMap(interfaceName)
        path.oif = event.oif.flatMap(interfaceName)
        path.mark = event.mark
        let state = Pending(path: path, hook: hook, baseChain: nil, basePriority: hook == .ingress || event.tableFamily == .bridge ? Int(Int32.min) : -350,
                            lastDump: summary, lastEventTime: time)
        state.bridged = event.tableFamily == .bridge
        pending[event.traceID] = state
        started += 1
        startOrder.append((event.traceID, time))
        compactStartOrder()
        out += evictIfNeeded()
        return out
    }

    /// Adds the event's step to its pending path; emits the path when the step settles its fate.
    private func step(_ event: NftTraceEvent, state: Pending, entry: ChainEntry, rule: StepRule?, at time: Double,
                      out: [PacketPath]) -> [PacketPath] {
        state.lastEventTime = time
        // The step is built where it stays, at the end of the path (no copy of it and its strings).
        guard appendStep(event, state: state, entry: entry, rule: rule) else { return out }
        guard let fate = fate(ofLastStepIn: state) else { return out }
        pending.removeValue(forKey: event.traceID)
        state.path.verdict = fate
        var out = out
        out.append(finish(state, incomplete: false, verdictKnown: true))
        return out
    }

    /// Emits the paths that have been quiet for the quiet period (or are too old).
    public func expire(now: Double) -> [PacketPath] {
        let due = pending.filter { now - $0.value.lastEventTime >= configuration.quietPeriod || now - $0.value.path.time >= configuration.maxAge }
        var out: [PacketPath] = []
        for (id, state) in due.sorted(by: { $0.value.path.time < $1.value.path.time }) {
            pending.removeValue(forKey: id)
            out.append(finish(state, incomplete: true))
        }
        return out
    }

    /// Emits everything still pending (at the end of a session).
    public func flush() -> [PacketPath] { expire(now: .infinity) }

    func evictIfNeeded() -> [PacketPath] {
        var out: [PacketPath] = []
        while pending.count > configuration.maxPending, startOrderHead < startOrder.count {
            let (id, time) = startOrder[startOrderHead]
            startOrderHead += 1
            // Only the entry that started the current pending path for this id counts.
            guard let state = pending[id], state.path.time == time else { continue }
            pending.removeValue(forKey: id)
            evicted += 1
            out.append(finish(state, incomplete: true))
        }
        if startOrderHead > 1024 && startOrderHead * 2 > startOrder.count {
            startOrder.removeFirst(startOrderHead)
            startOrderHead = 0
        }
        return out
    }

    /// The names of the last status bits seen: consecutive packets mostly share them, so the
    /// array is shared instead of built for every header dump.
    var lastStatus: (bits: UInt32, names: [String])?
}

extension PacketVerdict {
    var stepVerdict: StepVerdict {
        switch self {
        case .drop, .reject: return .drop
        case .queue: return .queue
        case .stolen: return .stolen
        case .accept: return .accept
        case .unknown: return .unknown
        }
    }
}
