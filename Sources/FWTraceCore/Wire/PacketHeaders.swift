/// What fwtrace shows of a packet, read from the network and transport headers the kernel
/// copies into the first trace event of each base-chain run.
public struct PacketSummary: Equatable, Sendable {
    public enum Family: String, Sendable { case ip, ip6 }
    public var family: Family
    public var src: IPAddress
    public var dst: IPAddress
    /// IANA protocol number of the transport header (after IPv6 extension headers).
    public var protocolNumber: UInt8
    /// Total length of the IP packet as its header says.
    public var length: Int
    public var ttl: UInt8
    public var ipID: UInt16?
    public var flowLabel: UInt32?
    public var sport: UInt16?
    public var dport: UInt16?
    public var tcpFlags: UInt8?
    /// TCP sequence number: NAT leaves it alone, so it joins a packet's segments across
    /// namespaces (SegmentStitcher).
    public var tcpSequence: UInt32?
    public var icmpType: UInt8?
    public var icmpCode: UInt8?
    /// Set when this is a later IPv4 fragment: no transport header to read.
    public var isLaterFragment: Bool = false
    /// False when IPv6 extension headers hide the transport protocol: the kernel dumps at most
    /// 40 bytes of network header (NFT_TRACETYPE_NETWORK_HSIZE), so the chain of extension
    /// headers usually is not in the dump. `protocolNumber` is then the first extension header.
    public var protocolKnown: Bool = true

    public var protocolName: String { protocolKnown ? PacketSummary.protocolName(protocolNumber) : "unknown" }

    public init(family: Family, src: IPAddress, dst: IPAddress, protocolNumber: UInt8, length: Int, ttl: UInt8,
                ipID: UInt16? = nil, flowLabel: UInt32? = nil) {
        self.family = family; self.src = src; self.dst = dst; self.protocolNumber = protocolNumber
        self.length = length; self.ttl = ttl; self.ipID = ipID; self.flowLabel = flowLabel
    }

    public static func protocolName(_ number: UInt8) -> String {
        switch number {
        case 6: return "tcp"
        case 17: return "udp"
        case 1: return "icmp"
        case 58: return "icmpv6"
        case 132: return "sctp"
        case 136: return "udplite"
        case 33: return "dccp"
        default: return String(number)
        }
    }

    public static let tcpFlagNames: [(UInt8, String)] = [
        (0x01, "fin"), (0x02, "syn"), (0x04, "rst"), (0x08, "psh"),
        (0x10, "ack"), (0x20, "urg"), (0x40, "ece"), (0x80, "cwr"),
    ]

    public var tcpFlagList: [String] {
        guard let flags = tcpFlags else { return [] }
        return PacketSummary.tcpFlagNames.filter { flags & $0.0 != 0 }.map { $0.1 }
    }
}

/// A header as the kernel dumped it, read on the memory where it lies in its datagram, indexed
/// from 0 like a header of its own. Every read follows a `need` that checked its range (debug
/// builds also check each index).
struct HeaderView {
    let bytes: UnsafeBufferPointer<UInt8>
    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }
    var count: Int { bytes.count }
    subscript(_ i: Int) -> UInt8 { bytes[i] }
    func be16(_ o: Int) -> UInt16 { UInt16(self[o]) << 8 | UInt16(self[o + 1]) }
    func be32(_ o: Int) -> UInt32 { UInt32(be16(o)) << 16 | UInt32(be16(o + 2)) }
    func be64(_ o: Int) -> UInt64 { UInt64(be32(o)) << 32 | UInt64(be32(o + 4)) }
    /// Bytes.need, on the view.
    /// `what` is made only for the error: callers name the header with an interpolated String,
    /// which built made one on every packet.
    func need(_ offset: Int, _ count: Int, _ what: @autoclosure () -> String) throws {
        guard offset >= 0, count >= 0, offset <= self.count, self.count - offset >= count else {
            throw DecodeError.truncated(what: what(), offset: offset, need: count, have: max(0, self.count - max(0, offset)))
        }
    }
}

public enum PacketHeaders {
    /// IPv6 extension headers that are walked to find the transport protocol.
    static let ipv6ExtensionHeaders: Set<UInt8> = [0, 43, 44, 60, 51, 135, 139, 140]

    /// Reads the network header (and the transport header when present). `nfproto` is the
    /// hook family from NFTA_TRACE_NFPROTO (2 = IPv4, 10 = IPv6); when absent the version
    /// nibble decides.
    public static func parse(network: [UInt8], transport: [UInt8]?, nfproto: UInt32?) throws -> PacketSummary {
        try parse(network: network[...], transport: transport?[...], nfproto: nfproto)
    }

    /// The same for headers that lie in a received datagram (NftTraceEvent's), without a copy.
    public static func parse(network: ArraySlice<UInt8>, transport: ArraySlice<UInt8>?, nfproto: UInt32?) throws -> PacketSummary {
        try network.withUnsafeBufferPointer { n in
            guard let transport else { return try parse(network: HeaderView(n), transport: nil, nfproto: nfproto) }
            return try transport.withUnsafeBufferPointer { t in try parse(network: HeaderView(n), transport: HeaderView(t), nfproto: nfproto) }
        }
    }

    static func parse(network: HeaderView, transport: HeaderView?, nfproto: UInt32?) throws -> PacketSummary {
        try network.need(0, 1, "network header")
        let version = network[0] >> 4
        // A netdev (5) or bridge (7) chain's packet is whatever the frame carried: its version says.
        let byVersion = nfproto == nil || nfproto == 5 || nfproto == 7
        if nfproto == 10 || (byVersion && version == 6) {
            return try parseIPv6(network, transport: transport)
        }
        if nfproto == 2 || (byVersion && version == 4) {
            return try parseIPv4(network, transport: transport)
        }
        throw DecodeError.invalidValue(what: "network header", offset: 0,
                                       detail: "not IPv4 or IPv6 (nfproto \(nfproto.map(String.init) ?? "none"), version \(version))")
    }

    static func parseIPv4(_ h: HeaderView, transport: HeaderView?) throws -> PacketSummary {
        try h.need(0, 20, "IPv4 header")
        guard h[0] >> 4 == 4 else {
            throw DecodeError.invalidValue(what: "IPv4 header", offset: 0, detail: "version \(h[0] >> 4)")
        }
        let headerLength = Int(h[0] & 0x0f) * 4
        guard headerLength >= 20 else {
            throw DecodeError.invalidValue(what: "IPv4 header", offset: 0, detail: "header length \(headerLength)")
        }
        let fragment = h.be16(6)
        var summary = PacketSummary(
            family: .ip,
            src: .v4(h.be32(12)), dst: .v4(h.be32(16)),
            protocolNumber: h[9], length: Int(h.be16(2)), ttl: h[8],
            ipID: h.be16(4))
        summary.isLaterFragment = fragment & 0x1fff != 0
        if let transport, !summary.isLaterFragment {
            try parseTransport(&summary, transport)
        }
        return summary
    }

    static func parseIPv6(_ h: HeaderView, transport: HeaderView?) throws -> PacketSummary {
        try h.need(0, 40, "IPv6 header")
        guard h[0] >> 4 == 6 else {
            throw DecodeError.invalidValue(what: "IPv6 header", offset: 0, detail: "version \(h[0] >> 4)")
        }
        var next = h[6]
        var offset = 40
        var laterFragment = false
        // Walk whatever extension headers the buffer holds. The kernel's trace dump stops at 40
        // bytes, so usually none are there and `protocolKnown` ends up false (see PacketSummary).
        while ipv6ExtensionHeaders.contains(next), h.count - offset >= 8 {
            let current = next
            next = h[offset]
            if current == 44 {  // fragment header: fixed 8 bytes
                laterFragment = h.be16(offset + 2) & 0xfff8 != 0
                offset += 8
            } else if current == 51 {  // AH: length in 4-byte units, minus 2
                offset += (Int(h[offset + 1]) + 2) * 4
            } else {
                offset += (Int(h[offset + 1]) + 1) * 8
            }
            if offset > h.count {
                throw DecodeError.truncated(what: "IPv6 extension header", offset: offset, need: offset, have: h.count)
            }
        }
        var summary = PacketSummary(
            family: .ip6,
            src: .v6(IPv6Bytes(high: h.be64(8), low: h.be64(16))), dst: .v6(IPv6Bytes(high: h.be64(24), low: h.be64(32))),
            protocolNumber: next, length: Int(h.be16(4)) + 40, ttl: h[7],
            flowLabel: (UInt32(h[1] & 0x0f) << 16) | UInt32(h.be16(2)))
        summary.isLaterFragment = laterFragment
        summary.protocolKnown = !ipv6ExtensionHeaders.contains(next)
        if let transport, !laterFragment, summary.protocolKnown, next != 59 {
            try parseTransport(&summary, transport)
        }
        return summary
    }

    /// Completes a summary whose transport protocol the headers did not tell, when it is known
    /// another way (fwtrace's own trace rule matched exactly one protocol).
    public static func resolveProtocol(_ summary: inout PacketSummary, protocol number: UInt8, transport: [UInt8]?) {
        resolveProtocol(&summary, protocol: number, transport: transport?[...])
    }

    public static func resolveProtocol(_ summary: inout PacketSummary, protocol number: UInt8, transport: ArraySlice<UInt8>?) {
        guard !summary.protocolKnown else { return }
        summary.protocolNumber = number
        summary.protocolKnown = true
        if let transport, !summary.isLaterFragment {
            transport.withUnsafeBufferPointer { t in try? parseTransport(&summary, HeaderView(t)) }
        }
    }

    static func parseTransport(_ s: inout PacketSummary, _ t: HeaderView) throws {
        switch s.protocolNumber {
        case 6:
            try t.need(0, 14, "TCP header")
            s.sport = t.be16(0); s.dport = t.be16(2); s.tcpFlags = t[13]; s.tcpSequence = t.be32(4)
        case 17, 136, 132, 33:
            try t.need(0, 4, "\(s.protocolName) header")
            s.sport = t.be16(0); s.dport = t.be16(2)
        case 1, 58:
            try t.need(0, 2, "\(s.protocolName) header")
            s.icmpType = t[0]; s.icmpCode = t[1]
        default:
            break
        }
    }
}
