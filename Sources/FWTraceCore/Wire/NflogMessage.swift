/// One NFULNL_MSG_PACKET message (linux/netfilter/nfnetlink_log.h), as the legacy assembler
/// reads it. This is what iptables-legacy's TRACE target (through nf_log_trace -> nfnetlink_log)
/// and the NFLOG target send. Core does not parse these: libnetfilter_log does, behind
/// `NflogMessageDecoding` (FWTraceNflog's `NflogHandle`).
public struct NflogMessage: Equatable, Sendable {
    /// nlmsg_type of a logged packet: NFNL_SUBSYS_ULOG (4) << 8 | NFULNL_MSG_PACKET (0).
    public static let netlinkType: UInt16 = 4 << 8

    /// nfgenmsg.nfgen_family: 2 IPv4, 10 IPv6.
    public var family: UInt8
    /// nfgenmsg.res_id: the nflog group.
    public var resourceID: UInt16
    /// NFULA_PACKET_HDR: nfulnl_msg_packet_hdr.hw_protocol (an ethertype, 0x0800 for IPv4).
    public var hardwareProtocol: UInt16?
    /// NFULA_PACKET_HDR: nfulnl_msg_packet_hdr.hook: 0 PREROUTING, 1 INPUT, 2 FORWARD,
    /// 3 OUTPUT, 4 POSTROUTING. Conntrack's invalid-packet log always says 0, whatever the hook.
    public var hook: UInt8?
    /// NFULA_MARK (the kernel sends it only when the mark is not 0).
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
    /// NFULA_PAYLOAD: the packet from the network header on.
    public var payload: [UInt8]?
    /// NFULA_PREFIX, without its NUL.
    public var prefix: String?
    /// NFULA_CT (nested CTA_* attributes, linux/netfilter/nfnetlink_conntrack.h).
    public var conntrack: Conntrack?
    /// NFULA_CT_INFO (enum ip_conntrack_info).
    public var conntrackInfo: UInt32?

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

/// Decodes one nfnetlink_log packet message into `NflogMessage`. The one implementation is
/// FWTraceNflog's `NflogHandle` (libnetfilter_log); Core takes it injected and holds no parser
/// of its own for these messages.
public protocol NflogMessageDecoding: AnyObject {
    /// The netlink message `bytes[message]` (header and body), of type `NflogMessage.netlinkType`.
    func decode(_ bytes: [UInt8], message: Range<Int>) throws(DecodeError) -> NflogMessage
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
