/// Netfilter vocabulary shared by both backends: table families, hooks, verdicts.

/// nf_tables table family (nfgenmsg.nfgen_family): NFPROTO_* from linux/netfilter.h.
public enum TableFamily: String, Sendable, Hashable, CaseIterable {
    case ip, ip6, inet, arp, bridge, netdev, unknown

    public init(nfproto: UInt8) {
        switch nfproto {
        case 1: self = .inet
        case 2: self = .ip
        case 3: self = .arp
        case 5: self = .netdev
        case 7: self = .bridge
        case 10: self = .ip6
        default: self = .unknown
        }
    }

    public init(keyword: String) { self = TableFamily(rawValue: keyword) ?? .unknown }
}

/// Netfilter hooks, in the order a packet can meet them.
public enum Hook: String, Sendable, Hashable, CaseIterable {
    case ingress, prerouting, input, forward, output, postrouting, egress, unknown

    /// Hooks that may follow this one for the same packet (same skb, same trace).
    public var successors: Set<Hook> {
        switch self {
        case .ingress: return [.prerouting]
        case .prerouting: return [.input, .forward]
        case .forward: return [.postrouting]
        case .output: return [.postrouting]
        case .postrouting: return [.egress]
        default: return []
        }
    }

    /// True when `other` can come after `self` for one packet, possibly several hooks later.
    public func canReach(_ other: Hook) -> Bool {
        other == self || Hook.reachableMasks[index] & (1 << other.index) != 0
    }

    /// Position in `allCases`, for tables indexed by hook.
    var index: Int {
        switch self {
        case .ingress: return 0
        case .prerouting: return 1
        case .input: return 2
        case .forward: return 3
        case .output: return 4
        case .postrouting: return 5
        case .egress: return 6
        case .unknown: return 7
        }
    }

    /// `reachable` as one bit per hook (by `index`): asked on every base-chain run and every accept.
    static let reachableMasks: [UInt16] = Hook.allCases.map { hook in
        (reachable[hook] ?? []).reduce(UInt16(0)) { $0 | 1 << $1.index }
    }

    /// The hooks reachable from this one (any order).
    var reachableHooks: [Hook] { Hook.reachableLists[index] }

    static let reachableLists: [[Hook]] = Hook.allCases.map { hook in
        Hook.allCases.filter { reachableMasks[hook.index] & (1 << $0.index) != 0 }
    }

    /// Hooks reachable from each hook, computed once (asked on every base-chain run).
    static let reachable: [Hook: Set<Hook>] = {
        var table: [Hook: Set<Hook>] = [:]
        for hook in Hook.allCases {
            var frontier = hook.successors
            var seen: Set<Hook> = []
            while let next = frontier.popFirst() {
                if seen.insert(next).inserted { frontier.formUnion(next.successors) }
            }
            table[hook] = seen
        }
        return table
    }()
}

/// The verdict of one step, as the kernel reports it (NF_* and NFT_* verdict codes).
public enum StepVerdict: String, Sendable, Hashable {
    case accept, drop, `continue`, jump, goto, `return`, queue, stolen, `repeat`, stop, unknown

    /// From a verdict code (NFTA_VERDICT_CODE, a signed 32-bit value).
    public init(code: Int32) {
        switch code {
        case -1: self = .continue
        case -2: self = .continue        // NFT_BREAK: the rule's expressions did not match
        case -3: self = .jump
        case -4: self = .goto
        case -5: self = .return
        default:
            switch code & 0xff {          // NF_VERDICT_MASK: queue numbers live in the high bits
            case 0: self = .drop
            case 1: self = .accept
            case 2: self = .stolen
            case 3: self = .queue
            case 4: self = .`repeat`
            case 5: self = .stop
            default: self = .unknown
            }
        }
    }

    /// Ends the packet's journey (as opposed to ending one base chain).
    public var isFinal: Bool { self == .drop || self == .queue || self == .stolen }
}

/// The packet's fate.
public enum PacketVerdict: String, Sendable {
    case accept, drop, reject, queue, stolen, unknown
}

/// A packet's conntrack state (enum ip_conntrack_info, as nft's `ct state` and iptables'
/// `--ctstate` name it): compared by case, printed by its raw value (docs/output.md).
public enum ConntrackState: String, Sendable, CaseIterable {
    case new, established, related, invalid, untracked

    /// Its bit in nft's `ct state` (NF_CT_STATE_BIT: ip_conntrack_info + 1; invalid and untracked
    /// have bits of their own).
    public var bit: Int {
        switch self {
        case .invalid: return 1
        case .established: return 2
        case .related: return 4
        case .new: return 8
        case .untracked: return 64
        }
    }
}
