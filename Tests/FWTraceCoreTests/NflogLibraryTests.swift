import Foundation
import XCTest
@testable import FWTraceCore
import FWTraceNflog

/// nfnetlink_log messages through libnetfilter_log (NflogHandle: nflog_handle_packet, the
/// library's nflog_nlmsg_parse and accessors), fed what Linux 6.18 sent for iptables-legacy
/// TRACE rules, and bytes made to be wrong.
final class NflogLibraryTests: XCTestCase {
    static let fail2ban = "kernel-6.18-legacy-v4-fail2ban-return-reject-and-dnat"
    static let ackAndInvalid = "kernel-6.18-legacy-v4-ack-accepted-and-ct-invalid"

    struct Logged {
        let bytes: [UInt8]
        let message: NetlinkMessage
        /// The netlink message alone (header + body), its body at 16...
        var whole: [UInt8] { Array(bytes[message.offset..<message.body.upperBound]) }
    }

    static func messages(_ file: String) throws -> [Logged] {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(file + ".hex")
        let datagrams = try CaptureFormat.parse(try String(contentsOf: url, encoding: .utf8))
        var out: [Logged] = []
        for d in datagrams {
            for m in try NetlinkMessage.split(d.bytes) where m.type == NflogMessage.netlinkType {
                out.append(Logged(bytes: d.bytes, message: m))
            }
        }
        return out
    }

    static func decoded(_ file: String) throws -> [NflogMessage] {
        try messages(file).map { try Nflog.decode($0.bytes, $0.message) }
    }

    static var allMessages: [Logged] {
        get throws { try messages(fail2ban) + messages(ackAndInvalid) }
    }

    /// One whole message of type NFULNL_MSG_PACKET around `body` (nfgenmsg and attributes).
    static func message(_ body: [UInt8]) -> [UInt8] {
        let length = UInt32(16 + body.count)
        return withUnsafeBytes(of: length.littleEndian, Array.init) + [0, 4, 0, 0] + [UInt8](repeating: 0, count: 8) + body
    }

    static func decode(_ whole: [UInt8]) throws -> NflogMessage {
        try Nflog.decoder().decode(whole, message: whole.indices)
    }

    /// Splits a logged IPv4 payload at its header length as the nft decoder's callers do.
    func packet(_ m: NflogMessage) throws -> PacketSummary {
        let payload = try XCTUnwrap(m.payload)
        let ihl = Int(payload[0] & 0x0f) * 4
        return try PacketHeaders.parse(network: Array(payload[0..<ihl]), transport: Array(payload[ihl...]), nfproto: UInt32(m.family))
    }

    // MARK: - Real captures

    func testFail2banCaptureFields() throws {
        let all = try Self.decoded(Self.fail2ban)
        XCTAssertEqual(all.count, 9)
        XCTAssertEqual(all.map(\.prefix), [
            "TRACE: raw:PREROUTING:policy:3 ", "TRACE: nat:PREROUTING:policy:2 ", "TRACE: filter:INPUT:rule:1 ",
            "TRACE: filter:fail2ban-SSH:return:2 ", "TRACE: filter:INPUT:rule:4 ", "TRACE: raw:PREROUTING:policy:3 ",
            "TRACE: nat:PREROUTING:rule:1 ", "TRACE: filter:INPUT:rule:3 ", "TRACE: nat:INPUT:policy:1 ",
        ])
        XCTAssertEqual(all.map(\.hook), [0, 0, 1, 1, 1, 0, 0, 1, 1])
        for m in all {
            XCTAssertEqual(m.family, 2)
            XCTAssertEqual(m.resourceID, 0)                 // nflog group 0
            XCTAssertEqual(m.hardwareProtocol, 0x0800)
            XCTAssertEqual(m.inDevice, 2)
            XCTAssertNil(m.outDevice)
            XCTAssertEqual(m.payload?.count, 60)
            XCTAssertNil(m.mark)
            XCTAssertNil(m.conntrack)
            XCTAssertNil(m.conntrackInfo)
        }
    }

    func testAckAndConntrackInvalidCaptureFields() throws {
        let all = try Self.decoded(Self.ackAndInvalid)
        XCTAssertEqual(all.map(\.prefix), ["TRACE: raw:PREROUTING:policy:3 ", "TRACE: filter:INPUT:rule:3 ", "nf_ct_proto_6: invalid new "])
        XCTAssertEqual(all.map(\.inDevice), [2, 2, nil])
        XCTAssertEqual(all.map(\.outDevice), [nil, nil, 2])
        // nf_l4proto_log_invalid passes hooknum 0 to nf_log_packet: the locally generated RST
        // is reported as PREROUTING although conntrack saw it in OUTPUT.
        XCTAssertEqual(all.map(\.hook), [0, 1, 0])
        XCTAssertEqual(all.map { $0.payload?.count }, [40, 40, 40])
        let invalid = all[2]
        XCTAssertNotNil(invalid.timestamp)

        let ack = try packet(all[1])
        XCTAssertEqual(ack.src.description, "10.99.0.1")
        XCTAssertEqual(ack.dst.description, "10.99.0.2")
        XCTAssertEqual(ack.dport, 80)
        XCTAssertEqual(ack.tcpFlagList, ["ack"])
        let rst = try packet(invalid)
        XCTAssertEqual(rst.src.description, "10.99.0.2")
        XCTAssertEqual(rst.dst.description, "10.99.0.1")
        XCTAssertEqual(rst.sport, 80)
        XCTAssertEqual(rst.dport, ack.sport)
        XCTAssertEqual(rst.tcpFlagList, ["rst"])
    }

    func testPayloadParsesAsIPv4TCPSyn() throws {
        let all = try Self.decoded(Self.fail2ban)
        var dports: [UInt16?] = []
        for m in all {
            let p = try packet(m)
            XCTAssertEqual(p.family, .ip)
            XCTAssertEqual(p.src.description, "10.99.0.1")
            XCTAssertEqual(p.dst.description, "10.99.0.2")
            XCTAssertEqual(p.protocolName, "tcp")
            XCTAssertEqual(p.tcpFlagList, ["syn"])
            XCTAssertEqual(p.length, 60)
            dports.append(p.dport)
        }
        // The second packet is DNATed 8081 -> 80 in nat PREROUTING: later hooks log it rewritten.
        XCTAssertEqual(dports, [22, 22, 22, 22, 22, 8081, 8081, 80, 80])
    }

    func testTimestampsAreIn2026() throws {
        for file in [Self.fail2ban, Self.ackAndInvalid] {
            let stamps = try Self.decoded(file).map { try XCTUnwrap($0.timestamp) }
            for t in stamps {
                XCTAssertGreaterThan(t, 1.76e9, file)
                XCTAssertLessThan(t, 1.83e9, file)
                XCTAssertNotEqual(t, t.rounded(.down), "microseconds are kept")
            }
            XCTAssertEqual(stamps, stamps.sorted(), file)
        }
    }

    /// NFULA_MARK as Linux 6.18 sent it (Tests/tools/capture-mark-fixtures.sh: a SYN and two ACKs
    /// to :80; mangle PREROUTING `-j MARK --set-mark 0x10` and `CONNMARK --save-mark` on the SYN,
    /// `CONNMARK --restore-mark` on the ACKs). TRACE logs a rule when its matches passed, before
    /// its target ran: the MARK and restore rules' messages have no mark yet, the next ones 0x10.
    func testMarkAttributeFollowsTheTargetThatSetIt() throws {
        let all = try Self.decoded("kernel-6.18-legacy-v4-mark-connmark-restore")
        let seen = all.map { "\($0.prefix ?? "") \($0.mark.map { String($0, radix: 16) } ?? "-")" }
        let syn = [
            "TRACE: raw:PREROUTING:policy:2  -", "TRACE: mangle:PREROUTING:rule:1  -", "TRACE: mangle:PREROUTING:rule:2  10",
            "TRACE: mangle:PREROUTING:policy:4  10", "TRACE: mangle:INPUT:policy:1  10", "TRACE: filter:INPUT:policy:2  10",
        ]
        let ack = [
            "TRACE: raw:PREROUTING:policy:2  -", "TRACE: mangle:PREROUTING:rule:3  -", "TRACE: mangle:PREROUTING:policy:4  10",
            "TRACE: mangle:INPUT:policy:1  10", "TRACE: filter:INPUT:policy:2  10",
        ]
        XCTAssertEqual(seen, syn + ack + ack)
    }

    func testLegacyTracePrefixesOfTheCaptures() throws {
        let parsed = try (Self.decoded(Self.fail2ban) + Self.decoded(Self.ackAndInvalid)).map { LegacyTracePrefix.parse($0.prefix ?? "") }
        typealias P = LegacyTracePrefix
        XCTAssertEqual(parsed, [
            P(table: "raw", chain: "PREROUTING", kind: .policy, number: 3),
            P(table: "nat", chain: "PREROUTING", kind: .policy, number: 2),
            P(table: "filter", chain: "INPUT", kind: .rule, number: 1),
            P(table: "filter", chain: "fail2ban-SSH", kind: .return, number: 2),
            P(table: "filter", chain: "INPUT", kind: .rule, number: 4),
            P(table: "raw", chain: "PREROUTING", kind: .policy, number: 3),
            P(table: "nat", chain: "PREROUTING", kind: .rule, number: 1),
            P(table: "filter", chain: "INPUT", kind: .rule, number: 3),
            P(table: "nat", chain: "INPUT", kind: .policy, number: 1),
            P(table: "raw", chain: "PREROUTING", kind: .policy, number: 3),
            P(table: "filter", chain: "INPUT", kind: .rule, number: 3),
            nil,
        ])
    }

    func testLegacyTracePrefixRejectsEverythingElse() {
        for junk in ["nf_ct_proto_6: invalid new ", "TRACE: x", "TRACE: a:b:c:d", "TRACE: a:b:rule:d ", "TRACE: a:b:jump:1 ",
                     "TRACE: a:b:jump:1", "TRACE: a:b:rule: ", "TRACE: a:b:rule:-1 ", "TRACE: a:b:rule:+1 ",
                     "TRACE: :b:rule:1 ", "TRACE: a::rule:1 ", "TRACE: a:rule:1 ", "TRACE:a:b:rule:1 ",
                     "trace: a:b:rule:1 ", "TRACE: a:b:rule:99999999999999999999999 ", "", "TRACE: "] {
            XCTAssertNil(LegacyTracePrefix.parse(junk), junk)
        }
        // Without the kernel's trailing space, and a chain holding ':' (parsed from the right).
        XCTAssertEqual(LegacyTracePrefix.parse("TRACE: mangle:FORWARD:rule:12"),
                       LegacyTracePrefix(table: "mangle", chain: "FORWARD", kind: .rule, number: 12))
        XCTAssertEqual(LegacyTracePrefix.parse("TRACE: filter:odd:name:return:7 "),
                       LegacyTracePrefix(table: "filter", chain: "odd:name", kind: .return, number: 7))
    }

    // MARK: - Malformed input

    func testShortMessagesAreTruncated() throws {
        let decoder = try Nflog.decoder()
        let header = Self.message([2, 0, 0])
        XCTAssertThrowsError(try decoder.decode(header, message: header.indices)) { error in
            XCTAssertEqual(error as? DecodeError, .truncated(what: "nfnetlink_log message", offset: 0, need: 20, have: 19))
        }
        // A range outside the bytes is refused before anything is read.
        XCTAssertThrowsError(try decoder.decode(header, message: 4..<40))
        // A packet of 65,000 bytes (a GSO packet, copied whole) decodes; a message longer than
        // any the kernel sends is refused.
        let whole = Self.message([2, 0, 0, 0] + [UInt8(truncatingIfNeeded: 65_000 + 4), UInt8((65_000 + 4) >> 8), 9, 0] + [UInt8](repeating: 0x45, count: 65_000))
        XCTAssertEqual(try Self.decode(whole).payload?.count, 65_000)
        let tooLong = Self.message([UInt8](repeating: 0, count: NflogHandle.largestMessage))
        XCTAssertThrowsError(try decoder.decode(tooLong, message: tooLong.indices)) { error in
            guard case .badLength? = error as? DecodeError else { return XCTFail("\(error)") }
        }
        // Just the nfgenmsg: nothing is required, not even NFULA_PACKET_HDR.
        XCTAssertEqual(try Self.decode(Self.message([10, 0, 0, 0])), NflogMessage(family: 10, resourceID: 0))
        // The library hands a message only to the group it is for.
        XCTAssertThrowsError(try Self.decode(Self.message([10, 0, 0x01, 0x02]))) { error in
            guard case .invalidValue(_, _, let detail)? = error as? DecodeError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("group 258"), detail)
        }
    }

    func testTruncationAtEveryLengthNeverCrashes() throws {
        var errors = 0, decoded = 0
        for m in try Self.allMessages {
            let whole = m.whole
            for cut in 16..<whole.count {
                // The message cut, its length field saying so, and the same cut with the length
                // field still claiming the whole message.
                var truncated = Array(whole[0..<cut])
                do { _ = try Self.decode(truncated); decoded += 1 } catch is DecodeError { errors += 1 }
                withUnsafeBytes(of: UInt32(cut).littleEndian) { for i in 0..<4 { truncated[i] = $0[i] } }
                do { _ = try Self.decode(truncated); decoded += 1 } catch is DecodeError { errors += 1 }
            }
        }
        XCTAssertGreaterThan(errors, 1000)
        XCTAssertGreaterThan(decoded, 12 * 8)   // cuts at attribute boundaries decode
    }

    func testWrongPayloadLengthsAreRefused() throws {
        // NFULA_MARK (2) with 3 bytes, NFULA_PACKET_HDR (1) with 2, NFULA_TIMESTAMP (3) with 8,
        // NFULA_HWADDR (8) with 8, NFULA_HWTYPE (15) with 4, a CTA_ID inside NFULA_CT (18) with 2.
        let cases: [([UInt8], String)] = [
            ([7, 0, 2, 0, 1, 2, 3, 0], "NFULA_MARK"),
            ([6, 0, 1, 0, 8, 0, 0, 0], "NFULA_PACKET_HDR"),
            ([12, 0, 3, 0] + [UInt8](repeating: 0, count: 8), "NFULA_TIMESTAMP"),
            ([12, 0, 8, 0, 0, 6, 0, 0, 1, 2, 3, 4], "NFULA_HWADDR"),
            ([8, 0, 15, 0, 0, 0, 0, 1], "NFULA_HWTYPE"),
            ([12, 0, 18, 0x80, 6, 0, 12, 0, 0, 1, 0, 0], "NFULA_CT"),
        ]
        for (attribute, name) in cases {
            XCTAssertThrowsError(try Self.decode(Self.message([2, 0, 0, 0] + attribute)), name) { error in
                guard case .invalidValue(let what, _, _)? = error as? DecodeError else { return XCTFail("\(error)") }
                XCTAssertEqual(what, name == "NFULA_CT" ? "NFULA_CT" : "nfnetlink_log message", name)
            }
        }
    }

    func testPrefixWithoutNULIsRefused() {
        let noNUL = Self.message([2, 0, 0, 0, 8, 0, 10, 0, 0x54, 0x52, 0x41, 0x43])
        XCTAssertThrowsError(try Self.decode(noNUL)) { error in
            guard case .invalidValue(_, _, let detail)? = error as? DecodeError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("NUL"), detail)
        }
    }

    func testAttributesTheCapturesLackDecode() throws {
        var body: [UInt8] = [10, 0, 0, 0]
        func attribute(_ type: UInt16, _ payload: [UInt8]) {
            let length = 4 + payload.count
            body += [UInt8(length & 0xff), UInt8(length >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + payload
            body += [UInt8](repeating: 0, count: (4 - length % 4) % 4)
        }
        attribute(2, [0, 0, 0x12, 0x34])                         // NFULA_MARK
        attribute(6, [0, 0, 0, 7])                               // NFULA_IFINDEX_PHYSINDEV
        attribute(7, [0, 0, 0, 8])                               // NFULA_IFINDEX_PHYSOUTDEV
        attribute(8, [0, 10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8])      // NFULA_HWADDR claiming 10 bytes
        attribute(11, [0, 0, 3, 0xe8])                          // NFULA_UID
        attribute(12, [0, 0, 0, 1])                              // NFULA_SEQ
        // NFULA_CT | NLA_F_NESTED: CTA_TUPLE_ORIG (nested, skipped), CTA_STATUS, CTA_ID.
        attribute(18 | 0x8000, [8, 0, 0x81, 0, 1, 2, 3, 4] + [8, 0, 3, 0, 0, 0, 0x01, 0x8a] + [8, 0, 12, 0, 0xde, 0xad, 0xbe, 0xef])
        attribute(19, [0, 0, 0, 2])                              // NFULA_CT_INFO: IP_CT_NEW
        attribute(20 | 0x8000, [6, 0, 1, 0, 0x81, 0x00, 0, 0])   // NFULA_VLAN: past the library's NFULA_MAX, skipped
        attribute(21, [1, 2, 3])                                 // NFULA_L2HDR: likewise
        attribute(0, [9, 9, 9, 9])                               // NFULA_UNSPEC
        let m = try Self.decode(Self.message(body))
        XCTAssertEqual(m.family, 10)
        XCTAssertEqual(m.resourceID, 0)
        XCTAssertNil(m.hook)
        XCTAssertEqual(m.mark, 0x1234)
        XCTAssertEqual(m.physInDevice, 7)
        XCTAssertEqual(m.physOutDevice, 8)
        XCTAssertEqual(m.conntrack, NflogMessage.Conntrack(id: 0xdeadbeef, status: 0x18a))
        XCTAssertEqual(m.conntrackInfo, 2)
        XCTAssertNil(m.payload)
        XCTAssertNil(m.prefix)
    }

    func testUnknownAttributesAreSkipped() throws {
        for m in try Self.allMessages {
            var whole = m.whole
            let original = try Self.decode(whole)
            whole += [8, 0, 99, 0, 1, 2, 3, 4]     // attribute 99: from a future kernel
            withUnsafeBytes(of: UInt32(whole.count).littleEndian) { for i in 0..<4 { whole[i] = $0[i] } }
            XCTAssertEqual(try Self.decode(whole), original)
        }
    }

    func testRandomCorruptionNeverCrashes() throws {
        var generator = SplitMix(seed: 0xf1065eed)
        var decoded = 0, failed = 0
        for m in try Self.allMessages {
            let original = m.whole
            for _ in 0..<500 {
                var bytes = original
                for _ in 0..<(1 + Int(generator.next() % 4)) {
                    // The netlink header's length and type stay (framing is NetlinkMessage's job).
                    bytes[16 + Int(generator.next() % UInt64(bytes.count - 16))] = UInt8(truncatingIfNeeded: generator.next())
                }
                do {
                    let message = try Self.decode(bytes)
                    _ = LegacyTracePrefix.parse(message.prefix ?? "")
                    if let payload = message.payload, !payload.isEmpty {
                        let ihl = min(payload.count, Int(payload[0] & 0x0f) * 4)
                        _ = try? PacketHeaders.parse(network: Array(payload[0..<ihl]), transport: Array(payload[ihl...]), nfproto: UInt32(message.family))
                    }
                    decoded += 1
                } catch is DecodeError { failed += 1 }
            }
        }
        XCTAssertGreaterThan(decoded, 0)
        XCTAssertGreaterThan(failed, 0)
    }
}
