/// One NFT_MSG_TRACE message, decoded. Field numbers are from linux/netfilter/nf_tables.h
/// (enum nft_trace_attributes); the conntrack ones (18-21) are from Linux 6.16's header, newer
/// than Debian 12's, so they are defined here.
public struct NftTraceEvent: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case policy, `return`, rule, unknown(UInt32)
        init(_ raw: UInt32) {
            switch raw {
            case 1: self = .policy
            case 2: self = .return
            case 3: self = .rule
            default: self = .unknown(raw)
            }
        }
    }

    public struct Conntrack: Equatable, Sendable {
        public var id: UInt32?
        public var direction: UInt8?
        public var status: UInt32?
        public var state: UInt32?
    }

    public var tableFamily: TableFamily
    public var table: String
    public var chain: String
    public var kind: Kind
    public var traceID: UInt32
    public var ruleHandle: UInt64?
    public var verdictCode: Int32?
    public var jumpTarget: String?
    public var policy: UInt32?
    public var nfproto: UInt32?
    public var iif: UInt32?
    public var oif: UInt32?
    public var iifType: UInt16?
    public var oifType: UInt16?
    public var mark: UInt32?
    /// The headers as the kernel dumped them: slices of the received datagram (no copy; an
    /// event that is kept keeps its datagram's buffer alive).
    public var linkHeader: ArraySlice<UInt8>?
    public var networkHeader: ArraySlice<UInt8>?
    public var transportHeader: ArraySlice<UInt8>?
    public var conntrack: Conntrack?

    /// The kernel dumps headers once per base-chain run: an event that has them starts a run.
    public var startsBaseChainRun: Bool { networkHeader != nil }

    /// The verdict this step reports: the rule's verdict, or the chain policy.
    public var stepVerdict: StepVerdict {
        if kind == .policy, let policy { return StepVerdict(code: Int32(bitPattern: policy)) }
        if let verdictCode { return StepVerdict(code: verdictCode) }
        if kind == .return { return .return }
        return .unknown
    }
}

public enum NftTraceAttribute {
    public static let table: UInt16 = 1
    public static let chain: UInt16 = 2
    public static let ruleHandle: UInt16 = 3
    public static let type: UInt16 = 4
    public static let verdict: UInt16 = 5
    public static let id: UInt16 = 6
    public static let linkHeader: UInt16 = 7
    public static let networkHeader: UInt16 = 8
    public static let transportHeader: UInt16 = 9
    public static let iif: UInt16 = 10
    public static let iifType: UInt16 = 11
    public static let oif: UInt16 = 12
    public static let oifType: UInt16 = 13
    public static let mark: UInt16 = 14
    public static let nfproto: UInt16 = 15
    public static let policy: UInt16 = 16
    public static let pad: UInt16 = 17
    public static let ctID: UInt16 = 18
    public static let ctDirection: UInt16 = 19
    public static let ctStatus: UInt16 = 20
    public static let ctState: UInt16 = 21

    static let verdictCode: UInt16 = 1     // NFTA_VERDICT_CODE
    static let verdictChain: UInt16 = 2    // NFTA_VERDICT_CHAIN
}

public enum NftTraceDecoder {
    /// nlmsg_type of a trace: NFNL_SUBSYS_NFTABLES (10) << 8 | NFT_MSG_TRACE (17).
    public static let messageType: UInt16 = 10 << 8 | 17
    static let nfgenmsgSize = 4

    /// Decodes the body of one netlink message of type `messageType`.
    public static func decode(_ bytes: [UInt8], body: Range<Int>) throws -> NftTraceEvent {
        try Bytes.need(bytes, body.lowerBound, nfgenmsgSize, "nfgenmsg")
        guard body.count >= nfgenmsgSize else {
            throw DecodeError.truncated(what: "nfgenmsg", offset: body.lowerBound, need: nfgenmsgSize, have: body.count)
        }
        let family = TableFamily(nfproto: bytes[body.lowerBound])
        var reader = AttributeReader(bytes, range: (body.lowerBound + nfgenmsgSize)..<body.upperBound)
        var event = NftTraceEvent(tableFamily: family, table: "", chain: "", kind: .unknown(0), traceID: 0)
        var sawType = false, sawID = false, sawTable = false, sawChain = false
        typealias A = NftTraceAttribute
        while let a = try reader.next() {
            switch a.type {
            case A.table: event.table = try reader.string(a, "NFTA_TRACE_TABLE"); sawTable = true
            case A.chain: event.chain = try reader.string(a, "NFTA_TRACE_CHAIN"); sawChain = true
            case A.ruleHandle: event.ruleHandle = try reader.be64(a, "NFTA_TRACE_RULE_HANDLE")
            case A.type: event.kind = .init(try reader.be32(a, "NFTA_TRACE_TYPE")); sawType = true
            case A.id: event.traceID = try reader.be32(a, "NFTA_TRACE_ID"); sawID = true
            case A.verdict:
                var nested = reader.nested(a)
                while let v = try nested.next() {
                    switch v.type {
                    case A.verdictCode: event.verdictCode = Int32(bitPattern: try nested.be32(v, "NFTA_VERDICT_CODE"))
                    case A.verdictChain: event.jumpTarget = try nested.string(v, "NFTA_VERDICT_CHAIN")
                    default: break
                    }
                }
            case A.linkHeader: event.linkHeader = bytes[a.payload]
            case A.networkHeader: event.networkHeader = bytes[a.payload]
            case A.transportHeader: event.transportHeader = bytes[a.payload]
            case A.iif: event.iif = try reader.be32(a, "NFTA_TRACE_IIF")
            case A.oif: event.oif = try reader.be32(a, "NFTA_TRACE_OIF")
            case A.iifType: event.iifType = try reader.be16(a, "NFTA_TRACE_IIFTYPE")
            case A.oifType: event.oifType = try reader.be16(a, "NFTA_TRACE_OIFTYPE")
            case A.mark: event.mark = try reader.be32(a, "NFTA_TRACE_MARK")
            case A.nfproto: event.nfproto = try reader.be32(a, "NFTA_TRACE_NFPROTO")
            case A.policy: event.policy = try reader.be32(a, "NFTA_TRACE_POLICY")
            case A.ctID: event.conntrackOrEmpty.id = try reader.be32(a, "NFTA_TRACE_CT_ID")
            case A.ctDirection: event.conntrackOrEmpty.direction = try reader.u8(a, "NFTA_TRACE_CT_DIRECTION")
            case A.ctStatus: event.conntrackOrEmpty.status = try reader.be32(a, "NFTA_TRACE_CT_STATUS")
            case A.ctState: event.conntrackOrEmpty.state = try reader.be32(a, "NFTA_TRACE_CT_STATE")
            default: break  // unknown or padding: a newer kernel must not break the decoder
            }
        }
        if !sawType { throw DecodeError.missingAttribute("NFTA_TRACE_TYPE") }
        if !sawID { throw DecodeError.missingAttribute("NFTA_TRACE_ID") }
        if !sawTable { throw DecodeError.missingAttribute("NFTA_TRACE_TABLE") }
        if !sawChain { throw DecodeError.missingAttribute("NFTA_TRACE_CHAIN") }
        return event
    }
}

extension NftTraceEvent {
    fileprivate var conntrackOrEmpty: Conntrack {
        get { conntrack ?? Conntrack() }
        set { conntrack = newValue }
    }
}
