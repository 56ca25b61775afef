/// One packet's way through the firewall, in the order the kernel evaluated it.

public struct Endpoint: Equatable, Sendable {
    public var src: IPAddress
    public var dst: IPAddress
    public var sport: UInt16?
    public var dport: UInt16?

    public init(_ p: PacketSummary) {
        src = p.src; dst = p.dst; sport = p.sport; dport = p.dport
    }
}

/// Fields a NAT rewrote between two base-chain runs.
public struct NatChange: Equatable, Sendable {
    public var before: Endpoint
    public var after: Endpoint
}

public struct PathStep: Equatable, Sendable {
    public enum Kind: String, Sendable { case rule, jump, goto, `return`, policy }

    public var hook: Hook
    public var table: String
    public var tableFamily: TableFamily
    public var chain: String
    public var kind: Kind
    /// 1-based position in the chain, as `iptables -L --line-numbers` numbers it.
    public var rule: Int?
    public var handle: UInt64?
    public var text: String?
    public var verdict: StepVerdict
    public var target: String?
    public var counters: Ruleset.Counters?
    public var nat: NatChange?
    /// The rule rejects (answers the sender) rather than silently dropping.
    public var rejects: Bool = false
    /// Type of the chain (`filter`, `nat`, `route`) where known.
    public var chainType: ChainType?
    /// The packet mark (skb->mark) the kernel reported with this step's event; 0 when it sent
    /// none, which it does exactly when the mark is 0. nft: after the rule's statements ran (a
    /// `meta mark set` rule reports the mark it set). legacy: when the rule matched, before its
    /// target ran (a `-j MARK` rule reports the old mark, the next step the new one).
    public var mark: UInt32 = 0
    /// Who wrote the rule (or the chain, for a policy or a chain's end): nil for the admin's own
    /// (docs/output.md, `owner`). Shared with every step of the same rule.
    public var owner: RuleOwner?
    /// The network namespace the step ran in, on a path stitched across namespaces (nil on a
    /// path traced in one namespace).
    public var netns: String?

    public init(hook: Hook, table: String, tableFamily: TableFamily, chain: String, kind: Kind,
                verdict: StepVerdict) {
        self.hook = hook; self.table = table; self.tableFamily = tableFamily; self.chain = chain
        self.kind = kind; self.verdict = verdict
    }
}

/// When a backend's trace message reads the packet mark, relative to the rule it reports.
public enum MarkTiming: Sendable {
    /// nft: the trace event is sent after the rule's expressions ran.
    case afterRule
    /// iptables-legacy: TRACE logs a rule when its matches passed, before its target runs.
    case beforeTarget
}

public struct ConntrackSummary: Equatable, Sendable {
    public var id: UInt32?
    public var state: ConntrackState?
    public var direction: String?
    public var status: [String] = []
    /// Why conntrack called the packet invalid, in the kernel's words (legacy backend, --ct-invalid).
    public var invalidReason: String?

    /// IPS_* bits of include/uapi/linux/netfilter/nf_conntrack_common.h, in bit order.
    public static let statusNames = [
        "expected", "seen_reply", "assured", "confirmed", "src_nat", "dst_nat", "seq_adjust",
        "src_nat_done", "dst_nat_done", "dying", "fixed_timeout", "template", "untracked",
        "helper", "offload", "hw_offload",
    ]

    public init(_ ct: NftTraceEvent.Conntrack) {
        id = ct.id
        state = ct.state.flatMap(Self.stateName)
        direction = ct.direction.map(Self.directionName)
        if let bits = ct.status { status = Self.statusNames(bits) }
    }

    /// NF_CT_STATE_BIT: 2 established, 4 related, 8 new, 64 untracked (ip_conntrack_info + 1).
    static func stateName(_ state: UInt32) -> ConntrackState? {
        if state & 64 != 0 { return .untracked }
        if state & 8 != 0 { return .new }
        if state & 4 != 0 { return .related }
        if state & 2 != 0 { return .established }
        if state & 1 != 0 { return .invalid }
        return nil
    }

    static func directionName(_ direction: UInt8) -> String { direction == 0 ? "original" : "reply" }

    static func statusNames(_ bits: UInt32) -> [String] {
        var names: [String] = []
        for (bit, name) in ConntrackSummary.statusNames.enumerated() where bits & (1 << UInt32(bit)) != 0 { names.append(name) }
        return names
    }

    public init(state: ConntrackState?) { self.state = state }
}

public struct PacketPath: Sendable {
    public var traceID: UInt32
    public var family: PacketSummary.Family
    /// Receive time of the first event (seconds since the epoch): the kernel sends no timestamp.
    public var time: Double
    /// The packet as fwtrace's own chain first saw it (before any NAT).
    public var packet: PacketSummary
    public var iif: String?
    public var oif: String?
    /// The mark as the packet came (nft: at fwtrace's own trace rule; legacy: at its first step).
    public var mark: UInt32?
    /// Where the backend's steps report the mark (see PathStep.mark): the text view shows a
    /// change on the step that made it.
    public var markTiming: MarkTiming = .afterRule
    public var conntrack: ConntrackSummary?
    public var steps: [PathStep] = []
    public var verdict: PacketVerdict = .unknown
    /// Index into `steps` of the step that decided the packet's fate.
    public var decidedBy: Int?
    /// Emitted after a quiet period or an eviction rather than on a verdict that ends the path.
    public var incomplete = false
    public var hints: [Hint] = []
    /// A path stitched across namespaces: each namespace's part, in the packet's order, and where
    /// it went from one to the next. Empty for a path traced in one namespace.
    public var segments: [NamespaceSegment] = []
    public var crossings: [NamespaceCrossing] = []

    public var decidingStep: PathStep? { decidedBy.map { steps[$0] } }

    /// The packet changed between two base-chain runs: a NAT did it. The change goes on the last
    /// step of a NAT chain before this point (else the last step), where the admin looks for it.
    mutating func noteRewrite(from before: PacketSummary, to after: PacketSummary, isNatStep: (PathStep) -> Bool) {
        guard Endpoint(after) != Endpoint(before), !steps.isEmpty else { return }
        let index = steps.indices.last { isNatStep(steps[$0]) } ?? steps.count - 1
        steps[index].nat = NatChange(before: Endpoint(before), after: Endpoint(after))
    }
}

public struct Hint: Equatable, Sendable {
    public var code: String
    public var message: String
    public var evidence: [(String, String)]

    public init(code: String, message: String, evidence: [(String, String)] = []) {
        self.code = code; self.message = message; self.evidence = evidence
    }

    public static func == (a: Hint, b: Hint) -> Bool {
        a.code == b.code && a.message == b.message && a.evidence.map { $0.0 + "=" + $0.1 } == b.evidence.map { $0.0 + "=" + $0.1 }
    }
}

/// One namespace's part of a stitched path (PacketPath.segments).
public struct NamespaceSegment: Equatable, Sendable {
    public var netns: String
    public var inode: UInt64?
    /// The container whose namespace it is: runtime, id and name where the runtime's state has it.
    public var container: ContainerName?
    public var iif: String?
    public var oif: String?
    public var traceID: UInt32
    public var verdict: PacketVerdict
    /// Index into the path's steps of this segment's first step.
    public var firstStep: Int
    public var incomplete: Bool

    public init(netns: String, inode: UInt64?, container: ContainerName?, iif: String?, oif: String?,
                traceID: UInt32, verdict: PacketVerdict, firstStep: Int, incomplete: Bool) {
        self.netns = netns; self.inode = inode; self.container = container; self.iif = iif; self.oif = oif
        self.traceID = traceID; self.verdict = verdict; self.firstStep = firstStep; self.incomplete = incomplete
    }
}

/// A container as records name it.
public struct ContainerName: Equatable, Sendable {
    public var runtime: String
    public var id: String
    public var name: String?
    public init(runtime: String, id: String, name: String?) { self.runtime = runtime; self.id = id; self.name = name }
    /// `web (podman)`, or the short id when the runtime's state has no name.
    public var label: String { "\(name ?? String(id.prefix(12))) (\(runtime))" }
}

/// Where a stitched path went from one namespace to the next: the interface it left by and the
/// one it came in by (the two ends of a veth pair, or of any link between them).
public struct NamespaceCrossing: Equatable, Sendable {
    public var from: String
    public var to: String
    public var out: String?
    public var `in`: String?
    public init(from: String, to: String, out: String?, in: String?) { self.from = from; self.to = to; self.out = out; self.in = `in` }
}
