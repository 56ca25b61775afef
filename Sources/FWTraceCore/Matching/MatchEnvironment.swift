/// What a match may depend on beyond the packet's headers: the namespace's own addresses
/// (addrtype, fib), the packet's mark and its connection's NAT status as the path so far made
/// them, the rules the packet already matched (recent's `--set` on this path), and whether
/// stateful matches (limit, hashlimit, recent) may be read under an assumption that is then
/// stated. `.strict`, the hints' default, knows none of it: those matches stay unknown.
public struct MatchEnvironment: Sendable {
    /// One address of the namespace, with its prefix (the connected route) and interface.
    public struct LocalAddress: Hashable, Sendable {
        public var interface: String?
        public var prefix: IPPrefix
        public init(interface: String?, prefix: IPPrefix) { self.interface = interface; self.prefix = prefix }
        public var address: IPAddress { prefix.address }
    }

    /// The namespace's own addresses; nil when not known (addrtype and fib are then unknown).
    public var localAddresses: [LocalAddress]?
    /// The packet mark (skb->mark) as this rule sees it; nil when not known.
    public var mark: UInt32?
    /// The connection's status bits by ConntrackSummary.statusNames ("dst_nat", …); nil when
    /// not known (a connection this packet did not open).
    public var ctStatus: Set<String>?
    /// The connection's original tuple (the packet before any NAT), for a packet that opens it.
    public var originalTuple: Endpoint?
    /// `limit`, `hashlimit`: read as "under the rate" (and so stated) instead of unknown.
    public var assumeUnderRates = false
    /// recent: the lists' entries (address → hits) as /proc/net/xt_recent shows them. A list not
    /// in here is read as empty, and so stated, when `assumeRecentEmpty`; else it is unknown.
    public var recentLists: [String: [IPAddress: Int]] = [:]
    public var assumeRecentEmpty = false
    /// The packet is explain's: no IPv6 extension header, not a fragment (`-m rt`, `-m frag`,
    /// `-f` do not match it). A traced packet's headers beyond the transport's are not known.
    public var plainPacket = false
    /// Text of the iptables rules that matched earlier on this path (recent's `--set`, `--update`).
    public var matchedRules: [String] = []

    public init() {}

    public static let strict = MatchEnvironment()

    /// A mark as iptables writes one: decimal or 0x… hexadecimal.
    public static func mark(_ text: String) -> UInt32? { IptablesMatchExtensions.number(text) }

    /// Whether `address` is one of the namespace's own (loopback included); nil when unknown.
    func isLocal(_ address: IPAddress) -> Bool? {
        guard let locals = localAddresses else { return nil }
        if IPPrefix("127.0.0.0/8")!.contains(address) || address == IPAddress("::1")! { return true }
        return locals.contains { $0.address == address }
    }
}

/// A match read under an assumption (a rate not exceeded, a recent list empty): explain states it.
public struct MatchAssumption: Equatable, Sendable {
    /// The match as the rule writes it (`-m limit --limit 3/min`, `limit rate 3/minute`).
    public var match: String
    /// What was assumed (`under its rate`).
    public var assumed: String
    public init(match: String, assumed: String) { self.match = match; self.assumed = assumed }
}

/// One rule's match part, evaluated: the answer, the assumptions it rests on, and when it is
/// `.unknown`, the first match fwtrace could not evaluate.
public struct MatchEvaluation: Equatable, Sendable {
    public var match: RuleMatch = .matches
    public var assumptions: [MatchAssumption] = []
    public var unknownMatch: String?
    /// Set when an understood match fails without any assumption: then nothing else counts.
    var failedForSure = false

    public init() {}

    /// Folds one match into the rule's answer (all matches must hold).
    mutating func fold(_ m: RuleMatch, name: @autoclosure () -> String, assumption: MatchAssumption? = nil) {
        if let assumption, m != .unknown { assumptions.append(assumption) }
        switch m {
        case .doesNotMatch:
            match = .doesNotMatch
            if assumption == nil { failedForSure = true }
        case .unknown:
            if match == .matches { match = .unknown }
            if unknownMatch == nil { unknownMatch = name() }
        case .matches:
            break
        }
    }

    /// The evaluation as it stands at the end: a rule that certainly fails rests on no assumption
    /// and names no unknown match.
    var finished: MatchEvaluation {
        var e = self
        if failedForSure { e.assumptions = []; e.unknownMatch = nil }
        if e.match != .unknown { e.unknownMatch = nil }
        return e
    }
}
