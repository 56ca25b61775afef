/// One NFULNL_MSG_PACKET message (linux/netfilter/nfnetlink_log.h), decoded. This is what
/// iptables-legacy's TRACE target (through nf_log_trace -> nfnetlink_log) and the NFLOG target
/// send. Field numbers are from `enum nfulnl_attr_type` in
/// include/uapi/linux/netfilter/nfnetlink_log.h (unchanged from Linux 4.x to 6.18).
public struct NflogMessage: Equatable, Sendable {
    /// nfgenmsg.nfgen_family: 2 IPv4, 10 IPv6.
    public var family: UInt8
    /// nfgenmsg.res_id (big-endian on the wire): the nflog group.
    public var resourceID: UInt16
    /// NFULA_PACKET_HDR: nfulnl_msg_packet_hdr.hw_protocol (an ethertype, 0x0800 for IPv4).
    public var hardwareProtocol: UInt16?
    /// NFULA_PACKET_HDR: nfulnl_msg_packet_hdr.hook: 0 PREROUTING, 1 INPUT, 2 FORWARD,
    /// 3 OUTPUT, 4 POSTROUTING. Conntrack's invalid-packet log always says 0, whatever the hook.
    public var hook: UInt8?
    /// NFULA_MARK.
    public var mark: UInt32?
    /// NFULA_TIMESTAMP: seconds + microseconds / 1e6 (the skb's receive time).
    public var timestamp: Double?
    /// NFULA_IFINDEX_INDEV.
    public var inDevice: UInt32?
    /// NFULA_IFINDEX_OUTDEV.
    public var outDevice: UInt32?
    /// NFULA_IFINDEX_PHYSINDEV (bridge port).
    public var physInDevice: UInt32?
    /// NFULA_IFINDEX_PHYSOUTDEV (bridge port).
    public var physOutDevice: UInt32?
    /// NFULA_HWADDR: the first hw_addrlen bytes (at most 8) of nfulnl_msg_packet_hw.hw_addr.
    public var hardwareAddress: [UInt8]?
    /// NFULA_PAYLOAD: the packet from the network header on.
    public var payload: [UInt8]?
    /// NFULA_PREFIX, without its NUL.
    public var prefix: String?
    /// NFULA_UID.
    public var uid: UInt32?
    /// NFULA_SEQ.
    public var sequence: UInt32?
    /// NFULA_SEQ_GLOBAL.
    public var globalSequence: UInt32?
    /// NFULA_GID.
    public var gid: UInt32?
    /// NFULA_HWTYPE (ARPHRD_*, 1 for Ethernet).
    public var hardwareType: UInt16?
    /// NFULA_HWHEADER: the link-layer header.
    public var hardwareHeader: [UInt8]?
    /// NFULA_HWLEN.
    public var hardwareHeaderLength: UInt16?
    /// NFULA_CT (nested CTA_* attributes, linux/netfilter/nfnetlink_conntrack.h).
    public var conntrack: Conntrack?
    /// NFULA_CT_INFO (enum ip_conntrack_info).
    public var conntrackInfo: UInt32?
    /// NFULA_VLAN: the nested NFULA_VLAN_* attributes, raw.
    public var vlan: [UInt8]?
    /// NFULA_L2HDR.
    public var layer2Header: [UInt8]?

    /// The part of NFULA_CT fwtrace uses.
    public struct Conntrack: Equatable, Sendable {
        /// CTA_ID.
        public var id: UInt32?
        /// CTA_STATUS (IPS_* bits).
        public var status: UInt32?

        public init(id: UInt32? = nil, status: UInt32? = nil) {
            self.id = id
            self.status = status
        }
    }

    public init(family: UInt8, resourceID: UInt16) {
        self.family = family
        self.resourceID = resourceID
    }
}

/// `enum nfulnl_attr_type` (include/uapi/linux/netfilter/nfnetlink_log.h).
public enum NflogAttribute {
    public static let packetHeader: UInt16 = 1     // NFULA_PACKET_HDR
    public static let mark: UInt16 = 2             // NFULA_MARK
    public static let timestamp: UInt16 = 3        // NFULA_TIMESTAMP
    public static let inDevice: UInt16 = 4         // NFULA_IFINDEX_INDEV
    public static let outDevice: UInt16 = 5        // NFULA_IFINDEX_OUTDEV
    public static let physInDevice: UInt16 = 6     // NFULA_IFINDEX_PHYSINDEV
    public static let physOutDevice: UInt16 = 7    // NFULA_IFINDEX_PHYSOUTDEV
    public static let hardwareAddress: UInt16 = 8  // NFULA_HWADDR
    public static let payload: UInt16 = 9          // NFULA_PAYLOAD
    public static let prefix: UInt16 = 10          // NFULA_PREFIX
    public static let uid: UInt16 = 11             // NFULA_UID
    public static let sequence: UInt16 = 12        // NFULA_SEQ
    public static let globalSequence: UInt16 = 13  // NFULA_SEQ_GLOBAL
    public static let gid: UInt16 = 14             // NFULA_GID
    public static let hardwareType: UInt16 = 15    // NFULA_HWTYPE
    public static let hardwareHeader: UInt16 = 16  // NFULA_HWHEADER
    public static let hardwareLength: UInt16 = 17  // NFULA_HWLEN
    public static let conntrack: UInt16 = 18       // NFULA_CT
    public static let conntrackInfo: UInt16 = 19   // NFULA_CT_INFO
    public static let vlan: UInt16 = 20            // NFULA_VLAN
    public static let layer2Header: UInt16 = 21    // NFULA_L2HDR

    // enum ctattr_type (include/uapi/linux/netfilter/nfnetlink_conntrack.h), inside NFULA_CT.
    static let ctStatus: UInt16 = 3                // CTA_STATUS
    static let ctID: UInt16 = 12                   // CTA_ID

    /// sizeof(struct nfulnl_msg_packet_hdr)
    static let packetHeaderSize = 4
    /// sizeof(struct nfulnl_msg_packet_hw)
    static let hardwareAddressSize = 12
    /// sizeof(struct nfulnl_msg_packet_timestamp)
    static let timestampSize = 16
}

public enum NflogDecoder {
    /// nlmsg_type of a logged packet: NFNL_SUBSYS_ULOG (4) << 8 | NFULNL_MSG_PACKET (0).
    public static let messageType: UInt16 = 4 << 8
    static let nfgenmsgSize = 4

    /// Decodes the body of one netlink message of type `messageType`. Every attribute is
    /// optional (the kernel leaves out what it does not have); unknown ones are skipped.
    public static func decode(_ bytes: [UInt8], body: Range<Int>) throws -> NflogMessage {
        try Bytes.need(bytes, body.lowerBound, nfgenmsgSize, "nfgenmsg")
        guard body.count >= nfgenmsgSize else {
            throw DecodeError.truncated(what: "nfgenmsg", offset: body.lowerBound, need: nfgenmsgSize, have: body.count)
        }
        var message = NflogMessage(family: bytes[body.lowerBound], resourceID: Bytes.be16(bytes, body.lowerBound + 2))
        var reader = AttributeReader(bytes, range: (body.lowerBound + nfgenmsgSize)..<body.upperBound)
        typealias A = NflogAttribute
        while let a = try reader.next() {
            switch a.type {
            case A.packetHeader:
                try exactLength(a, A.packetHeaderSize, "NFULA_PACKET_HDR")
                message.hardwareProtocol = Bytes.be16(bytes, a.payload.lowerBound)
                message.hook = bytes[a.payload.lowerBound + 2]
            case A.mark: message.mark = try reader.be32(a, "NFULA_MARK")
            case A.timestamp:
                try exactLength(a, A.timestampSize, "NFULA_TIMESTAMP")
                let seconds = Bytes.be64(bytes, a.payload.lowerBound)
                let micros = Bytes.be64(bytes, a.payload.lowerBound + 8)
                message.timestamp = Double(seconds) + Double(micros) / 1_000_000
            case A.inDevice: message.inDevice = try reader.be32(a, "NFULA_IFINDEX_INDEV")
            case A.outDevice: message.outDevice = try reader.be32(a, "NFULA_IFINDEX_OUTDEV")
            case A.physInDevice: message.physInDevice = try reader.be32(a, "NFULA_IFINDEX_PHYSINDEV")
            case A.physOutDevice: message.physOutDevice = try reader.be32(a, "NFULA_IFINDEX_PHYSOUTDEV")
            case A.hardwareAddress:
                try exactLength(a, A.hardwareAddressSize, "NFULA_HWADDR")
                let count = min(Int(Bytes.be16(bytes, a.payload.lowerBound)), 8)
                let start = a.payload.lowerBound + 4
                message.hardwareAddress = Array(bytes[start..<(start + count)])
            case A.payload: message.payload = reader.raw(a)
            case A.prefix: message.prefix = try reader.string(a, "NFULA_PREFIX")
            case A.uid: message.uid = try reader.be32(a, "NFULA_UID")
            case A.sequence: message.sequence = try reader.be32(a, "NFULA_SEQ")
            case A.globalSequence: message.globalSequence = try reader.be32(a, "NFULA_SEQ_GLOBAL")
            case A.gid: message.gid = try reader.be32(a, "NFULA_GID")
            case A.hardwareType: message.hardwareType = try reader.be16(a, "NFULA_HWTYPE")
            case A.hardwareHeader: message.hardwareHeader = reader.raw(a)
            case A.hardwareLength: message.hardwareHeaderLength = try reader.be16(a, "NFULA_HWLEN")
            case A.conntrack:
                var ct = NflogMessage.Conntrack()
                var nested = reader.nested(a)
                while let c = try nested.next() {
                    switch c.type {
                    case A.ctID: ct.id = try nested.be32(c, "CTA_ID")
                    case A.ctStatus: ct.status = try nested.be32(c, "CTA_STATUS")
                    default: break  // tuples, timeout, mark, ...: not needed
                    }
                }
                message.conntrack = ct
            case A.conntrackInfo: message.conntrackInfo = try reader.be32(a, "NFULA_CT_INFO")
            case A.vlan: message.vlan = reader.raw(a)
            case A.layer2Header: message.layer2Header = reader.raw(a)
            default: break  // NFULA_UNSPEC or from a newer kernel: must not break the decoder
            }
        }
        return message
    }

    static func exactLength(_ a: NetlinkAttribute, _ size: Int, _ name: String) throws {
        guard a.length == size else {
            throw DecodeError.badAttributeLength(attribute: name, offset: a.offset, expected: String(size), actual: a.length)
        }
    }
}

/// The prefix iptables' TRACE target logs: "TRACE: <table>:<chain>:<rule|return|policy>:<number> "
/// (net/ipv4/netfilter/ip_tables.c, trace_packet: "TRACE: %s:%s:%s:%u "). `number` is the rule's
/// position as `iptables -L --line-numbers` shows it; for the chain's real tail (`return` and
/// `policy`) it is one past the chain's last rule. The kernel also labels an unconditional rule
/// with a standard target (`-j ACCEPT`, `-j DROP`, `-j RETURN` and no match) `policy` or `return`,
/// with the rule's own number: `LegacyPathAssembler` tells the two apart by the chain's length.
public struct LegacyTracePrefix: Equatable, Sendable {
    public enum Kind: String, Sendable { case rule, `return`, policy }
    public var table: String
    public var chain: String
    public var kind: Kind
    public var number: Int

    public init(table: String, chain: String, kind: Kind, number: Int) {
        self.table = table
        self.chain = chain
        self.kind = kind
        self.number = number
    }

    static let marker = "TRACE: "

    /// nil for anything else (conntrack's "nf_ct_proto_6: invalid new ", a LOG/NFLOG rule's
    /// own prefix). The kernel's trailing space may be missing. The table ends at the first ':',
    /// the kind and number are the last two ':'-separated fields, the chain is what lies between
    /// (iptables chain names cannot contain ':', but this does not depend on it).
    public static func parse(_ prefix: String) -> LegacyTracePrefix? {
        guard prefix.hasPrefix(marker) else { return nil }
        var rest = prefix.dropFirst(marker.count)
        if rest.hasSuffix(" ") { rest = rest.dropLast() }
        guard let tableEnd = rest.firstIndex(of: ":") else { return nil }
        let table = rest[..<tableEnd]
        let afterTable = rest[rest.index(after: tableEnd)...]
        guard let numberColon = afterTable.lastIndex(of: ":") else { return nil }
        let numberText = afterTable[afterTable.index(after: numberColon)...]
        let beforeNumber = afterTable[..<numberColon]
        guard let kindColon = beforeNumber.lastIndex(of: ":") else { return nil }
        let kindText = beforeNumber[beforeNumber.index(after: kindColon)...]
        let chain = beforeNumber[..<kindColon]
        guard !table.isEmpty, !chain.isEmpty, !table.contains(" "), !chain.contains(" "),
              let kind = Kind(rawValue: String(kindText)),
              !numberText.isEmpty, numberText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let number = Int(numberText)
        else { return nil }
        return LegacyTracePrefix(table: String(table), chain: String(chain), kind: kind, number: number)
    }
}
