import Foundation

/// Groups iptables-legacy TRACE messages into one path per packet.
///
/// Legacy TRACE has no trace id. A packet's messages come in hook order, each carrying the whole
/// packet; fwtrace's TRACE rule sits first in raw PREROUTING/OUTPUT, so a packet's first message
/// is from that raw chain. Messages are matched to packets by the bytes NAT does not change
/// (IP id, protocol, length, TCP sequence numbers and flags, ICMP id/sequence, UDP data) and by
/// hook order.
public final class LegacyPathAssembler {
    public struct Configuration: Sendable {
        public var quietPeriod: Double = 0.1
        public var maxPending: Int = 4096
        public var maxAge: Double = 5
        public init() {}
    }

    struct Pending {
        var path: PacketPath
        var key: PacketKey
        var hook: Hook
        var table: String
        var lastEventTime: Double
        var lastPacket: PacketSummary
        var rawStartPosition: Int
    }

    /// What identifies a packet along its path, NAT notwithstanding.
    struct PacketKey: Hashable {
        var family: PacketSummary.Family
        var protocolNumber: UInt8
        var length: Int
        var ipID: UInt16?
        var flowLabel: UInt32?
        var transport: [UInt8]
    }

    public let configuration: Configuration
    public var ruleset: Ruleset
    public var interfaceName: (UInt32) -> String? = { _ in nil }
    /// Set when the last message named a chain or position the ruleset lacks (it changed): the
    /// message was not taken, and nothing changed. Hand in a fresh ruleset, or keep this one, and
    /// ingest the same message again: then it is taken with what the ruleset knows.
    public private(set) var metUnknownRule = false
    /// Whether an unknown chain or rule stops the event (the trace pipeline reloads then); off,
    /// the event is taken with what the ruleset knows.
    public var stopsOnUnknownRules = false

    private var pending: [PacketKey: Pending] = [:]
    private var order: [(key: PacketKey, time: Double)] = []
    private var orderHead = 0
    public private(set) var evicted = 0
    public private(set) var ignored = 0
    /// Paths started: packets of which a raw PREROUTING/OUTPUT TRACE message was received.
    public private(set) var started = 0
    private var nextID: UInt32 = 1

    public init(configuration: Configuration = .init(), ruleset: Ruleset) {
        self.configuration = configuration
        self.ruleset = ruleset
    }

    public var pendingCount: Int { pending.count }

    /// Splits a logged payload into network and transport parts and reads them.
    public static func summary(payload: [UInt8], family: UInt8) -> (PacketSummary, transport: [UInt8])? {
        guard let first = payload.first else { return nil }
        let isV6 = family == 10 || first >> 4 == 6
        let headerLength = isV6 ? 40 : Int(first & 0x0f) * 4
        guard payload.count >= headerLength, headerLength >= 20 else { return nil }
        var network = Array(payload[0..<headerLength])
        var offset = headerLength
        if isV6 {
            // The whole packet is here: walk the extension headers to the transport header.
            var next = payload[6]
            while PacketHeaders.ipv6ExtensionHeaders.contains(next), payload.count - offset >= 8 {
                let length = next == 44 ? 8 : (next == 51 ? (Int(payload[offset + 1]) + 2) * 4 : (Int(payload[offset + 1]) + 1) * 8)
                next = payload[offset]
                offset += length
            }
            guard offset <= payload.count else { return nil }
            network = Array(payload[0..<offset])
        }
        let transport = Array(payload[offset...])
        guard let summary = try? PacketHeaders.parse(network: network, transport: transport, nfproto: isV6 ? 10 : 2) else { return nil }
        return (summary, transport)
    }

    static func key(_ s: PacketSummary, transport: [UInt8]) -> PacketKey {
        // Ports, addresses and checksums change under NAT; keep what does not.
        var invariant: [UInt8] = []
        switch s.protocolNumber {
        case 6 where transport.count >= 14: invariant = Array(transport[4..<14])          // seq, ack, offset, flags
        case 17 where transport.count >= 8: invariant = Array(transport[8..<min(transport.count, 72)])
        case 1, 58: invariant = Array(transport.prefix(8)).enumerated().filter { $0.offset < 2 || $0.offset >= 4 }.map { $0.element }
        default: invariant = Array(transport.prefix(8))
        }
        return PacketKey(family: s.family, protocolNumber: s.protocolNumber, length: s.length,
                         ipID: s.ipID, flowLabel: s.flowLabel, transport: invariant)
    }

    /// Feeds one TRACE message; returns the paths whose fate it decided (and any it displaced).
    public func ingest(_ message: NflogMessage, trace: LegacyTracePrefix, at receiveTime: Double) -> [PacketPath] {
        guard let payload = message.payload, let (packet, transport) = Self.summary(payload: payload, family: message.family) else {
            ignored += 1
            return []
        }
        let hook = Self.hook(message.hook ?? 255)
        let key = Self.key(packet, transport: transport)
        let family = packet.family
        let time = Self.eventTime(kernel: message.timestamp, received: receiveTime)
        var out: [PacketPath] = []
        // A stop is said once: the same event fed again right after it is taken as it is.
        let mayStop = stopsOnUnknownRules && !metUnknownRule
        metUnknownRule = false

        let isRawStart = trace.table == "raw" && (trace.chain == "PREROUTING" || trace.chain == "OUTPUT")
        var state = pending[key]
        let ends = state.map { !continues($0, hook: hook, trace: trace, isRawStart: isRawStart) } ?? false
        // Asked before anything changes, so that an unknown rule can stop the message untaken.
        if (isRawStart || (state != nil && !ends)) && mayStop && rulesetLacks(trace, family: family) {
            metUnknownRule = true
            return out
        }
        if let current = state {
            if ends {
                pending.removeValue(forKey: key)
                out.append(finish(current, verdictKnown: false))
                state = nil
            }
        }
        if state == nil {
            guard isRawStart else { ignored += 1; return out }
            state = startPath(message, packet: packet, key: key, hook: hook, trace: trace, time: time, receivedAt: receiveTime)
            out += evictIfNeeded()
        }
        guard var s = state else { return out }
        s.path.noteRewrite(from: s.lastPacket, to: packet) { $0.table == "nat" }
        s.lastPacket = packet
        if let oif = message.outDevice, let name = interfaceName(oif) { s.path.oif = name }
        if s.path.conntrack == nil, let info = message.conntrackInfo { s.path.conntrack = Self.conntrack(info: info, message.conntrack) }
        s.hook = hook
        s.table = trace.table
        if trace.table == "raw", isRawStart { s.rawStartPosition = trace.number }
        s.lastEventTime = receiveTime
        var step = makeStep(trace, hook: hook, family: family)
        if let mark = message.mark { step.mark = mark }
        s.path.steps.append(step)
        if let fate = fate(step, s) {
            pending.removeValue(forKey: key)
            s.path.verdict = fate
            out.append(finish(s, verdictKnown: true))
        } else {
            pending[key] = s
        }
        return out
    }

    /// A new path: the TRACE message of raw PREROUTING or OUTPUT starts one per packet.
    private func startPath(_ message: NflogMessage, packet: PacketSummary, key: PacketKey, hook: Hook, trace: LegacyTracePrefix,
                           time: Double, receivedAt receiveTime: Double) -> Pending {
        var path = PacketPath(traceID: nextID, family: packet.family, time: time, packet: packet)
        nextID &+= 1
        started += 1
        path.iif = message.inDevice.flatMap(interfaceName)
        path.oif = message.outDevice.flatMap(interfaceName)
        path.mark = message.mark
        path.markTiming = .beforeTarget
        if let info = message.conntrackInfo { path.conntrack = Self.conntrack(info: info, message.conntrack) }
        order.append((key, time))
        return Pending(path: path, key: key, hook: hook, table: trace.table, lastEventTime: receiveTime,
                       lastPacket: packet, rawStartPosition: trace.number)
    }

    /// Whether a message continues the pending path `current` (else it ends it).
    func continues(_ current: Pending, hook: Hook, trace: LegacyTracePrefix, isRawStart: Bool) -> Bool {
        let continues = current.hook.canReach(hook) && (current.hook != hook || Self.tableRank(trace.table, hook) >= Self.tableRank(current.table, hook))
        let restartsRaw = isRawStart && !(current.hook == hook && current.table == "raw" && trace.number > current.rawStartPosition)
        return continues && !restartsRaw
    }

    /// Whether the step of this message needs what the ruleset lacks: its chain, a fit for its
    /// policy/return number (see isChainTail), or the rule at its position.
    func rulesetLacks(_ trace: LegacyTracePrefix, family: PacketSummary.Family) -> Bool {
        guard let chain = ruleset.chain(TableFamily(iptables: family), trace.table, trace.chain) else { return true }
        if trace.kind != .rule {
            guard let tail = chainTailAnswer(trace, family: family, chain: chain) else { return true }
            if tail { return false }
        }
        let position = ruleset.userPosition(TableFamily(iptables: family), trace.table, trace.chain, kernel: trace.number)
        return !chain.rules.contains { $0.position == position }
    }

    /// Conntrack's invalid-packet log ("nf_ct_proto_6: invalid tcp flag combination"): attached
    /// to the pending path of the same packet, whose conntrack state it makes "invalid".
    /// Returns false when no traced packet matches (the log is about a packet fwtrace does not follow).
    @discardableResult
    public func noteConntrackInvalid(_ message: NflogMessage) -> Bool {
        guard let prefix = message.prefix, prefix.hasPrefix("nf_ct_"),
              let payload = message.payload, let (packet, transport) = Self.summary(payload: payload, family: message.family),
              var state = pending[Self.key(packet, transport: transport)] else { return false }
        var reason = prefix.trimmingCharacters(in: .whitespaces)
        if let colon = reason.range(of: ": ") { reason = String(reason[colon.upperBound...]) }
        var ct = state.path.conntrack ?? ConntrackSummary(state: .invalid)
        ct.state = .invalid
        ct.invalidReason = reason
        state.path.conntrack = ct
        pending[state.key] = state
        return true
    }

    /// How far a message's NFULA_TIMESTAMP may lie before or after its receive time (seconds).
    static let timestampWindow = (before: 3600.0, after: 60.0)

    /// The kernel's timestamp, unless it cannot be this packet's receive time: another clock's
    /// (a delivery time on a forwarded packet, seconds since boot) or a corrupted value. Then the
    /// receive time stands in, as for a message without one (docs/output.md, `time`).
    static func eventTime(kernel: Double?, received: Double) -> Double {
        guard let kernel, kernel >= received - timestampWindow.before, kernel <= received + timestampWindow.after else { return received }
        return kernel
    }

    /// The hook of an NFULA_PACKET_HDR hook number (NF_INET_*).
    static func hook(_ code: UInt8) -> Hook {
        switch code {
        case 0: return .prerouting
        case 1: return .input
        case 2: return .forward
        case 3: return .output
        case 4: return .postrouting
        default: return .unknown
        }
    }

    static func tableRank(_ table: String, _ hook: Hook) -> Int {
        Ruleset.iptablesTableOrder[hook]?.firstIndex(of: table) ?? 0
    }

    func makeStep(_ trace: LegacyTracePrefix, hook: Hook, family: PacketSummary.Family) -> PathStep {
        let tableFamily = TableFamily(iptables: family)
        let chain = ruleset.chain(tableFamily, trace.table, trace.chain)
        var kind = trace.kind
        if kind != .rule, !isChainTail(trace, family: family, chain: chain) { kind = .rule }
        switch kind {
        case .policy:
            var step = PathStep(hook: hook, table: trace.table, tableFamily: tableFamily, chain: trace.chain, kind: .policy,
                                verdict: chain?.policy == .drop ? .drop : .accept)
            step.owner = chain?.policyOwner
            return step
        case .return:
            var step = PathStep(hook: hook, table: trace.table, tableFamily: tableFamily, chain: trace.chain, kind: .return, verdict: .return)
            step.owner = chain?.owner
            return step
        case .rule:
            let position = ruleset.userPosition(tableFamily, trace.table, trace.chain, kernel: trace.number)
            let rule = chain?.rules.first { $0.position == position }
            let verdict = rule?.iptablesVerdict ?? .unknown
            let kind: PathStep.Kind = verdict == .jump ? .jump : verdict == .goto ? .goto : verdict == .return ? .return : .rule
            var step = PathStep(hook: hook, table: trace.table, tableFamily: tableFamily, chain: trace.chain, kind: kind, verdict: verdict)
            step.rule = position
            step.text = rule?.text
            step.counters = rule?.counters
            step.rejects = rule?.rejects ?? false
            step.owner = rule == nil ? chain?.owner : rule?.owner
            step.chainType = trace.table == "nat" ? .nat : .filter
            if rule?.targetIsChain == true { step.target = rule?.target }
            return step
        }
    }

    /// Whether a `policy`/`return` message is the chain's real end, one past its last rule.
    /// get_chainname_rulenum (ip_tables.c, ip6_tables.c) labels every unconditional entry with a
    /// standard verdict that way, numbered as the rule it is: `-A INPUT -j DROP` as rule 2 logs
    /// "policy:2" while the chain's policy, after 2 rules, logs "policy:3". A number that fits
    /// neither (a rule there that is not unconditional, or past the end) means the ruleset
    /// changed (rulesetLacks says so before the message is taken).
    func isChainTail(_ trace: LegacyTracePrefix, family: PacketSummary.Family, chain: Ruleset.Chain?) -> Bool {
        if let chain, let known = chainTailAnswer(trace, family: family, chain: chain) { return known }
        // No fit: a number inside the chain is a rule, else the tail.
        return trace.number > (chain.map { $0.rules.count + $0.ownPositions.count } ?? 0)
    }

    /// isChainTail's answer when the number fits the chain; nil when it fits neither way.
    func chainTailAnswer(_ trace: LegacyTracePrefix, family: PacketSummary.Family, chain: Ruleset.Chain) -> Bool? {
        let entries = chain.rules.count + chain.ownPositions.count
        if trace.number == entries + 1 { return true }
        guard trace.number >= 1, trace.number <= entries else { return nil }
        let position = ruleset.userPosition(TableFamily(iptables: family), trace.table, trace.chain, kernel: trace.number)
        return chain.rules.first { $0.position == position }?.isUnconditionalStandard == true ? false : nil
    }

    func fate(_ step: PathStep, _ s: Pending) -> PacketVerdict? {
        switch step.verdict {
        case .drop: return step.rejects ? .reject : .drop
        case .queue: return .queue
        case .accept: return moreTablesMayRun(s) ? nil : .accept
        default: return nil
        }
    }

    func moreTablesMayRun(_ s: Pending) -> Bool {
        let family = s.path.family
        let state = s.path.conntrack?.state
        func mayRun(_ table: String) -> Bool { table != "nat" || state == nil || state == .new }
        let tableFamily = TableFamily(iptables: family)
        if ruleset.tables(after: s.table, at: s.hook, family: tableFamily).contains(where: mayRun) { return true }
        let present = ruleset.tableNames(tableFamily)
        var later = s.hook.successors
        var seen: Set<Hook> = []
        while let hook = later.popFirst() {
            guard seen.insert(hook).inserted else { continue }
            if (Ruleset.iptablesTableOrder[hook] ?? []).contains(where: { present.contains($0) && mayRun($0) }) { return true }
            later.formUnion(hook.successors)
        }
        return false
    }

    static func conntrack(info: UInt32, _ ct: NflogMessage.Conntrack?) -> ConntrackSummary {
        // enum ip_conntrack_info: 0 established, 1 related, 2 new, 3 established reply, 4 related reply, 7 untracked.
        let state: ConntrackState?
        switch info {
        case 0, 3: state = .established
        case 1, 4: state = .related
        case 2: state = .new
        case 7: state = .untracked
        default: state = nil
        }
        var summary = ConntrackSummary(state: state)
        summary.direction = info >= 3 && info <= 4 ? "reply" : "original"
        summary.id = ct?.id
        if let bits = ct?.status {
            summary.status = ConntrackSummary.statusNames.enumerated().filter { bits & (1 << UInt32($0.offset)) != 0 }.map { $0.element }
        }
        return summary
    }

    public func expire(now: Double) -> [PacketPath] {
        let due = pending.filter { now - $0.value.lastEventTime >= configuration.quietPeriod || now - $0.value.path.time >= configuration.maxAge }
        var out: [PacketPath] = []
        for (key, state) in due.sorted(by: { $0.value.path.time < $1.value.path.time }) {
            pending.removeValue(forKey: key)
            out.append(finish(state, verdictKnown: false))
        }
        return out
    }

    public func flush() -> [PacketPath] { expire(now: .infinity) }

    func finish(_ s: Pending, verdictKnown: Bool) -> PacketPath {
        var path = s.path
        path.incomplete = !verdictKnown
        if !verdictKnown {
            path.verdict = path.steps.last?.verdict == .accept ? .accept : .unknown
        }
        path.decidedBy = PathAssembler.decidingStep(path)
        return path
    }

    func evictIfNeeded() -> [PacketPath] {
        var out: [PacketPath] = []
        while pending.count > configuration.maxPending, orderHead < order.count {
            let (key, time) = order[orderHead]
            orderHead += 1
            guard let state = pending[key], state.path.time == time else { continue }
            pending.removeValue(forKey: key)
            evicted += 1
            out.append(finish(state, verdictKnown: false))
        }
        if orderHead > 1024 && orderHead * 2 > order.count { order.removeFirst(orderHead); orderHead = 0 }
        if order.count - orderHead > 2 * configuration.maxPending + 1024 {
            order = order[orderHead...].filter { pending[$0.key]?.path.time == $0.time }
            orderHead = 0
        }
        return out
    }
}
