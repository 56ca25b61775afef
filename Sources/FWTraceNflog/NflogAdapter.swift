import Glibc
import CNetfilter
#if !FWTRACE_FUZZ_SINGLE_MODULE
import FWTraceCore
#endif

/// From what libnetfilter_log hands a group's callback to Core's `NflogMessage`: the fields the
/// legacy assembler reads, each through the library's accessor, and conntrack's (which the
/// library has no accessor for) from the attributes `nflog_nlmsg_parse` found, read with libmnl.
enum NflogAdapter {
    static let attributeSlots = Int(fwt_nfula_max) + 1

    static func message(header: UnsafeMutablePointer<nfgenmsg>, data: OpaquePointer) -> Result<NflogMessage, DecodeError> {
        // The netlink header precedes the nfgenmsg the callback is given (NLMSG_DATA).
        let netlink = UnsafeRawPointer(header).advanced(by: -Int(MemoryLayout<nlmsghdr>.size)).assumingMemoryBound(to: nlmsghdr.self)
        var table = [UnsafeMutablePointer<nlattr>?](repeating: nil, count: attributeSlots)
        guard nflog_nlmsg_parse(netlink, &table) >= 0 else {
            return .failure(.invalidValue(what: "nfnetlink_log message", offset: 0,
                                          detail: "nflog_nlmsg_parse rejected an attribute: a length that does not fit its type, or a prefix without its NUL"))
        }
        var m = NflogMessage(family: header.pointee.nfgen_family, resourceID: UInt16(bigEndian: header.pointee.res_id))
        if let packet = nflog_get_msg_packet_hdr(data) {
            m.hardwareProtocol = UInt16(bigEndian: packet.pointee.hw_protocol)
            m.hook = packet.pointee.hook
        }
        m.mark = nonZero(nflog_get_nfmark(data))
        var time = timeval()
        // The library converts the two be64 fields into a signed timeval: a value the kernel
        // cannot send (negative, or a microsecond count of a second or more) is no timestamp.
        if nflog_get_timestamp(data, &time) == 0, time.tv_sec >= 0, (0..<1_000_000).contains(time.tv_usec) {
            m.timestamp = Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000
        }
        m.inDevice = nonZero(nflog_get_indev(data))
        m.outDevice = nonZero(nflog_get_outdev(data))
        m.physInDevice = nonZero(nflog_get_physindev(data))
        m.physOutDevice = nonZero(nflog_get_physoutdev(data))
        var payload: UnsafeMutablePointer<CChar>?
        let length = nflog_get_payload(data, &payload)
        if length >= 0, let payload { m.payload = Array(UnsafeRawBufferPointer(start: payload, count: Int(length))) }
        if let prefix = nflog_get_prefix(data) { m.prefix = String(cString: prefix) }
        if let info = table[Int(NFULA_CT_INFO.rawValue)] { m.conntrackInfo = UInt32(bigEndian: mnl_attr_get_u32(info)) }
        if let ct = table[Int(NFULA_CT.rawValue)] {
            guard let conntrack = conntrack(ct) else {
                return .failure(.invalidValue(what: "NFULA_CT", offset: 0, detail: "a CTA_ID or CTA_STATUS that is not 4 bytes, or a bad nested length"))
            }
            m.conntrack = conntrack
        }
        return .success(m)
    }

    /// The kernel leaves an ifindex or mark out when it is 0; the accessors say 0 for absent.
    static func nonZero(_ value: UInt32) -> UInt32? { value == 0 ? nil : value }

    // enum ctattr_type (linux/netfilter/nfnetlink_conntrack.h), inside NFULA_CT.
    static let ctStatus: UInt16 = 3   // CTA_STATUS
    static let ctID: UInt16 = 12      // CTA_ID

    /// CTA_ID and CTA_STATUS of the nested conntrack attributes, each checked to be a u32.
    static func conntrack(_ attribute: UnsafeMutablePointer<nlattr>) -> NflogMessage.Conntrack? {
        var found = NflogMessage.Conntrack()
        let rc = withUnsafeMutablePointer(to: &found) { out in
            mnl_attr_parse_nested(attribute, { attribute, context in
                guard let attribute, let context else { return MNL_CB_ERROR }
                let type = mnl_attr_get_type(attribute)
                guard type == NflogAdapter.ctID || type == NflogAdapter.ctStatus else { return MNL_CB_OK }
                guard mnl_attr_validate(attribute, MNL_TYPE_U32) >= 0 else { return MNL_CB_ERROR }
                let value = UInt32(bigEndian: mnl_attr_get_u32(attribute))
                let ct = context.assumingMemoryBound(to: NflogMessage.Conntrack.self)
                if type == NflogAdapter.ctID { ct.pointee.id = value } else { ct.pointee.status = value }
                return MNL_CB_OK
            }, out)
        }
        return rc >= 0 ? found : nil
    }
}
