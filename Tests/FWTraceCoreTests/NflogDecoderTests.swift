import Foundation
import XCTest
@testable import FWTraceCore

/// The nfnetlink_log decoder, fed what Linux 6.18 sent for iptables-legacy TRACE rules.
final class NflogDecoderTests: XCTestCase {
    static let fail2ban = "kernel-6.18-legacy-v4-fail2ban-return-reject-and-dnat"
    static let ackAndInvalid = "kernel-6.18-legacy-v4-ack-accepted-and-ct-invalid"

    struct Logged {
        let bytes: [UInt8]
        let message: NetlinkMessage
        var body: [UInt8] { Array(bytes[message.body]) }
        /// The netlink message alone (header + body), its body at 16...
        var whole: [UInt8] { Array(bytes[message.offset..<message.body.upperBound]) }
    }

    static func messages(_ file: String) throws -> [Logged] {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(file + ".hex")
        let datagrams = try CaptureFormat.parse(try String(contentsOf: url, encoding: .utf8))
        var out: [Logged] = []
        for d in datagrams {
            for m in try NetlinkMessage.split(d.bytes) where m.type == NflogDecoder.messageType {
                out.append(Logged(bytes: d.bytes, message: m))
            }
        }
        return out
    }

    static func decoded(_ file: String) throws -> [NflogMessage] {
        try messages(file).map { try NflogDecoder.decode($0.bytes, body: $0.message.body) }
    }

    static var allMessages: [Logged] {
        get throws { try messages(fail2ban) + messages(ackAndInvalid) }
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
            XCTAssertEqual(m.hardwareType, 1)
            XCTAssertEqual(m.hardwareHeaderLength, 14)
            XCTAssertEqual(m.hardwareHeader?.count, 14)
            XCTAssertEqual(m.hardwareAddress, [0x72, 0xea, 0x62, 0xd4, 0x3f, 0x54])
            // The source MAC is also bytes 6..<12 of the Ethernet header; its ethertype ends it.
            XCTAssertEqual(m.hardwareHeader.map { Array($0[6..<12]) }, m.hardwareAddress)
            XCTAssertEqual(m.hardwareHeader.map { Array($0[12..<14]) }, [0x08, 0x00])
            XCTAssertEqual(m.payload?.count, 60)
            XCTAssertNil(m.mark)
            XCTAssertNil(m.conntrack)
            XCTAssertNil(m.conntrackInfo)
            XCTAssertNil(m.sequence)
            XCTAssertNil(m.uid)
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
        // An outgoing packet has no link-layer header yet.
        let invalid = all[2]
        XCTAssertNil(invalid.hardwareAddress)
        XCTAssertNil(invalid.hardwareType)
        XCTAssertNil(invalid.hardwareHeader)
        XCTAssertNil(invalid.hardwareHeaderLength)
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

    func testShortBodyIsTruncated() {
        XCTAssertThrowsError(try NflogDecoder.decode([2, 0, 0], body: 0..<3)) { error in
            XCTAssertEqual(error as? DecodeError, .truncated(what: "nfgenmsg", offset: 0, need: 4, have: 3))
        }
        XCTAssertThrowsError(try NflogDecoder.decode([2, 0, 0, 0, 9], body: 1..<4)) { error in
            XCTAssertEqual(error as? DecodeError, .truncated(what: "nfgenmsg", offset: 1, need: 4, have: 3))
        }
        // Just the nfgenmsg: nothing is required, not even NFULA_PACKET_HDR.
        XCTAssertEqual(try NflogDecoder.decode([10, 0, 0x01, 0x02], body: 0..<4), NflogMessage(family: 10, resourceID: 0x0102))
    }

    func testTruncationAtEveryLengthNeverCrashes() throws {
        var errors = 0, decoded = 0
        for m in try Self.allMessages {
            let whole = m.whole
            let bodyStart = NetlinkMessage.headerSize
            for cut in bodyStart..<whole.count {
                let truncated = Array(whole[0..<cut])
                do {
                    _ = try NflogDecoder.decode(truncated, body: bodyStart..<cut)
                    decoded += 1
                } catch let error as DecodeError {
                    if cut - bodyStart < 4, case .truncated = error {} else if cut - bodyStart < 4 { XCTFail("short nfgenmsg: \(error)") }
                    errors += 1
                }
                // The same cut with the full buffer behind it (body range shorter than the bytes).
                do { _ = try NflogDecoder.decode(whole, body: bodyStart..<cut) } catch is DecodeError {}
            }
        }
        XCTAssertGreaterThan(errors, 1000)
        XCTAssertGreaterThan(decoded, 12 * 8)   // cuts at attribute boundaries decode
    }

    func testWrongPayloadLengthsAreTypedErrors() throws {
        // NFULA_MARK (2) with 3 bytes.
        let shortMark: [UInt8] = [2, 0, 0, 0, 7, 0, 2, 0, 1, 2, 3, 0]
        XCTAssertThrowsError(try NflogDecoder.decode(shortMark, body: 0..<shortMark.count)) { error in
            XCTAssertEqual(error as? DecodeError, .badAttributeLength(attribute: "NFULA_MARK", offset: 4, expected: "4", actual: 3))
        }
        // NFULA_PACKET_HDR (1) with 2 bytes, NFULA_TIMESTAMP (3) with 8, NFULA_HWADDR (8) with 8,
        // NFULA_HWTYPE (15) with 4, a CTA_ID inside NFULA_CT (18) with 2.
        let cases: [([UInt8], String)] = [
            ([6, 0, 1, 0, 8, 0, 0, 0], "NFULA_PACKET_HDR"),
            ([12, 0, 3, 0] + [UInt8](repeating: 0, count: 8), "NFULA_TIMESTAMP"),
            ([12, 0, 8, 0, 0, 6, 0, 0, 1, 2, 3, 4], "NFULA_HWADDR"),
            ([8, 0, 15, 0, 0, 0, 0, 1], "NFULA_HWTYPE"),
            ([12, 0, 18, 0x80, 6, 0, 12, 0, 0, 1, 0, 0], "CTA_ID"),
        ]
        for (attribute, name) in cases {
            let body: [UInt8] = [2, 0, 0, 0] + attribute
            XCTAssertThrowsError(try NflogDecoder.decode(body, body: 0..<body.count), name) { error in
                guard case .badAttributeLength(let attributeName, _, _, _)? = error as? DecodeError else { return XCTFail("\(error)") }
                XCTAssertEqual(attributeName, name)
            }
        }
    }

    func testPrefixWithoutNULIsInvalid() {
        let noNUL: [UInt8] = [2, 0, 0, 0, 8, 0, 10, 0, 0x54, 0x52, 0x41, 0x43]
        XCTAssertThrowsError(try NflogDecoder.decode(noNUL, body: 0..<noNUL.count)) { error in
            guard case .invalidValue(let what, let offset, _)? = error as? DecodeError else { return XCTFail("\(error)") }
            XCTAssertEqual(what, "attribute NFULA_PREFIX")
            XCTAssertEqual(offset, 4)
        }
    }

    func testAttributesTheCapturesLackDecode() throws {
        var body: [UInt8] = [10, 0, 0, 5]
        func attribute(_ type: UInt16, _ payload: [UInt8]) {
            let length = 4 + payload.count
            body += [UInt8(length & 0xff), UInt8(length >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + payload
            body += [UInt8](repeating: 0, count: (4 - length % 4) % 4)
        }
        attribute(2, [0, 0, 0x12, 0x34])                         // NFULA_MARK
        attribute(6, [0, 0, 0, 7])                               // NFULA_IFINDEX_PHYSINDEV
        attribute(7, [0, 0, 0, 8])                               // NFULA_IFINDEX_PHYSOUTDEV
        attribute(8, [0, 10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8])      // NFULA_HWADDR claiming 10 bytes: at most 8
        attribute(11, [0, 0, 3, 0xe8])                          // NFULA_UID
        attribute(12, [0, 0, 0, 1])                              // NFULA_SEQ
        attribute(13, [0, 0, 0, 2])                              // NFULA_SEQ_GLOBAL
        attribute(14, [0, 0, 0, 100])                            // NFULA_GID
        // NFULA_CT | NLA_F_NESTED: CTA_TUPLE_ORIG (nested, skipped), CTA_STATUS, CTA_ID.
        attribute(18 | 0x8000, [8, 0, 0x81, 0, 1, 2, 3, 4] + [8, 0, 3, 0, 0, 0, 0x01, 0x8a] + [8, 0, 12, 0, 0xde, 0xad, 0xbe, 0xef])
        attribute(19, [0, 0, 0, 2])                              // NFULA_CT_INFO: IP_CT_NEW
        attribute(20 | 0x8000, [6, 0, 1, 0, 0x81, 0x00, 0, 0])   // NFULA_VLAN
        attribute(21, [1, 2, 3])                                 // NFULA_L2HDR
        attribute(0, [9, 9, 9, 9])                               // NFULA_UNSPEC
        let m = try NflogDecoder.decode(body, body: 0..<body.count)
        XCTAssertEqual(m.family, 10)
        XCTAssertEqual(m.resourceID, 5)
        XCTAssertNil(m.hook)
        XCTAssertEqual(m.mark, 0x1234)
        XCTAssertEqual(m.physInDevice, 7)
        XCTAssertEqual(m.physOutDevice, 8)
        XCTAssertEqual(m.hardwareAddress, [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertEqual(m.uid, 1000)
        XCTAssertEqual(m.sequence, 1)
        XCTAssertEqual(m.globalSequence, 2)
        XCTAssertEqual(m.gid, 100)
        XCTAssertEqual(m.conntrack, NflogMessage.Conntrack(id: 0xdeadbeef, status: 0x18a))
        XCTAssertEqual(m.conntrackInfo, 2)
        XCTAssertEqual(m.vlan, [6, 0, 1, 0, 0x81, 0x00, 0, 0])
        XCTAssertEqual(m.layer2Header, [1, 2, 3])
    }

    func testUnknownAttributesAreSkipped() throws {
        for m in try Self.allMessages {
            var body = m.body
            let original = try NflogDecoder.decode(body, body: 0..<body.count)
            body += [8, 0, 99, 0, 1, 2, 3, 4]     // attribute 99: from a future kernel
            XCTAssertEqual(try NflogDecoder.decode(body, body: 0..<body.count), original)
        }
    }

    func testRandomCorruptionNeverCrashes() throws {
        var generator = SplitMix(seed: 0xf1065eed)
        var decoded = 0, failed = 0
        for m in try Self.allMessages {
            let original = m.body
            for _ in 0..<500 {
                var bytes = original
                for _ in 0..<(1 + Int(generator.next() % 4)) {
                    bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
                }
                do {
                    let message = try NflogDecoder.decode(bytes, body: 0..<bytes.count)
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
