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
    /// `names`: the session's cache of table and chain names (the same Strings, not new ones).
    // size: one walk over the attributes into locals, the event built once at the end: the fast
    // path (issue 13's bench); split, each piece would take the locals inout or build the event twice.
    public static func decode(_ bytes: [UInt8], body: Range<Int>, names: NameCache? = nil) throws -> NftTraceEvent {
        try Bytes.need(bytes, body.lowerBound, nfgenmsgSize, "nfgenmsg")
        guard body.count >= nfgenmsgSize else {
            throw DecodeError.truncated(what: "nfgenmsg", offset: body.lowerBound, need: nfgenmsgSize, have: body.count)
        }
        let family = TableFamily(nfproto: bytes[body.lowerBound])
        // Fields gathered in locals and the event made once at the end: mutating a whole event
        // (three slices, three strings, a dozen optionals) field by field copied it.
        var table: String?, chain: String?, kind: NftTraceEvent.Kind?, traceID: UInt32?
        var ruleHandle: UInt64?, verdictCode: Int32?, jumpTarget: String?, policy: UInt32?, nfproto: UInt32?
        var iif: UInt32?, oif: UInt32?, iifType: UInt16?, oifType: UInt16?, mark: UInt32?
        var linkHeader: ArraySlice<UInt8>?, networkHeader: ArraySlice<UInt8>?, transportHeader: ArraySlice<UInt8>?
        var ctID: UInt32?, ctDirection: UInt8?, ctStatus: UInt32?, ctState: UInt32?
        // The attributes are read on the buffer's memory (RawAttributeReader: the same checks).
        try bytes.withUnsafeBufferPointer { buffer in
            var reader = RawAttributeReader(buffer, range: (body.lowerBound + nfgenmsgSize)..<body.upperBound)
            typealias A = NftTraceAttribute
            while let a = try reader.next() {
                switch a.type {
                case A.table: table = try reader.string(a, "NFTA_TRACE_TABLE", names: names)
                case A.chain: chain = try reader.string(a, "NFTA_TRACE_CHAIN", names: names)
                case A.ruleHandle: ruleHandle = try reader.be64(a, "NFTA_TRACE_RULE_HANDLE")
                case A.type: kind = .init(try reader.be32(a, "NFTA_TRACE_TYPE"))
                case A.id: traceID = try reader.be32(a, "NFTA_TRACE_ID")
                case A.verdict:
                    var nested = reader.nested(a)
                    while let v = try nested.next() {
                        switch v.type {
                        case A.verdictCode: verdictCode = Int32(bitPattern: try nested.be32(v, "NFTA_VERDICT_CODE"))
                        case A.verdictChain: jumpTarget = try nested.string(v, "NFTA_VERDICT_CHAIN", names: names)
                        default: break
                        }
                    }
                case A.linkHeader: linkHeader = bytes[a.payload]
                case A.networkHeader: networkHeader = bytes[a.payload]
                case A.transportHeader: transportHeader = bytes[a.payload]
                case A.iif: iif = try reader.be32(a, "NFTA_TRACE_IIF")
                case A.oif: oif = try reader.be32(a, "NFTA_TRACE_OIF")
                case A.iifType: iifType = try reader.be16(a, "NFTA_TRACE_IIFTYPE")
                case A.oifType: oifType = try reader.be16(a, "NFTA_TRACE_OIFTYPE")
                case A.mark: mark = try reader.be32(a, "NFTA_TRACE_MARK")
                case A.nfproto: nfproto = try reader.be32(a, "NFTA_TRACE_NFPROTO")
                case A.policy: policy = try reader.be32(a, "NFTA_TRACE_POLICY")
                case A.ctID: ctID = try reader.be32(a, "NFTA_TRACE_CT_ID")
                case A.ctDirection: ctDirection = try reader.u8(a, "NFTA_TRACE_CT_DIRECTION")
                case A.ctStatus: ctStatus = try reader.be32(a, "NFTA_TRACE_CT_STATUS")
                case A.ctState: ctState = try reader.be32(a, "NFTA_TRACE_CT_STATE")
                default: break  // unknown or padding: a newer kernel must not break the decoder
                }
            }
        }
        guard let kind else { throw DecodeError.missingAttribute("NFTA_TRACE_TYPE") }
        guard let traceID else { throw DecodeError.missingAttribute("NFTA_TRACE_ID") }
        guard let table else { throw DecodeError.missingAttribute("NFTA_TRACE_TABLE") }
        guard let chain else { throw DecodeError.missingAttribute("NFTA_TRACE_CHAIN") }
        let hasConntrack = ctID != nil || ctDirection != nil || ctStatus != nil || ctState != nil
        return NftTraceEvent(
            tableFamily: family, table: table, chain: chain, kind: kind, traceID: traceID, ruleHandle: ruleHandle,
            verdictCode: verdictCode, jumpTarget: jumpTarget, policy: policy, nfproto: nfproto, iif: iif, oif: oif,
            iifType: iifType, oifType: oifType, mark: mark, linkHeader: linkHeader, networkHeader: networkHeader,
            transportHeader: transportHeader,
            conntrack: hasConntrack ? NftTraceEvent.Conntrack(id: ctID, direction: ctDirection, status: ctStatus, state: ctState) : nil)
    }
}
