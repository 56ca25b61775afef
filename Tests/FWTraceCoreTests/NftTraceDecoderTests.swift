import XCTest
@testable import FWTraceCore

/// The decoder, fed the bytes the kernel sent (one scenario per event and header kind).
final class NftTraceDecoderTests: XCTestCase {
    func testEveryCapturedMessageDecodes() throws {
        let scenarios = KernelFixture.allScenarios
        XCTAssertGreaterThanOrEqual(scenarios.count, 14)
        for scenario in scenarios {
            let fixture = try KernelFixture.load(scenario)
            let events = try fixture.events()
            XCTAssertFalse(events.isEmpty, scenario)
            for e in events {
                XCTAssertNotEqual(e.traceID, 0, scenario)
                XCTAssertFalse(e.table.isEmpty, scenario)
                XCTAssertFalse(e.chain.isEmpty, scenario)
            }
        }
    }

    /// A session's name cache gives the same events as Strings made per event, across every
    /// captured scenario fed through one cache (names of different lengths, repeated, and new).
    func testNameCacheGivesTheSameEvents() throws {
        let names = NameCache()
        for scenario in KernelFixture.allScenarios {
            let fixture = try KernelFixture.load(scenario)
            for m in try fixture.messages() {
                let plain = try NftTraceDecoder.decode(m.bytes, body: m.message.body)
                let cached = try NftTraceDecoder.decode(m.bytes, body: m.message.body, names: names)
                XCTAssertEqual(plain, cached, scenario)
            }
        }
    }

    func testRuleEventWithConntrackAndIPv4TCPHeaders() throws {
        let events = try KernelFixture.load("v4-tcp-reject-input-rule7").events()
        let reject = try XCTUnwrap(events.first { $0.table == "filter" && $0.chain == "INPUT" })
        XCTAssertEqual(reject.tableFamily, .ip)
        XCTAssertEqual(reject.kind, .rule)
        XCTAssertEqual(reject.ruleHandle, 11)
        XCTAssertEqual(reject.verdictCode, 0)            // NF_DROP: reject drops after answering
        XCTAssertEqual(reject.stepVerdict, .drop)
        XCTAssertEqual(reject.nfproto, 2)
        XCTAssertEqual(reject.conntrack?.state, 8)       // new
        XCTAssertEqual(reject.conntrack?.direction, 0)
        XCTAssertNotNil(reject.conntrack?.id)
        XCTAssertTrue(reject.startsBaseChainRun)
        let packet = try PacketHeaders.parse(network: reject.networkHeader!, transport: reject.transportHeader, nfproto: reject.nfproto)
        XCTAssertEqual(packet.src.description, "10.99.0.1")
        XCTAssertEqual(packet.dst.description, "10.99.0.2")
        XCTAssertEqual(packet.protocolName, "tcp")
        XCTAssertEqual(packet.dport, 8080)
        XCTAssertEqual(packet.tcpFlagList, ["syn"])
        XCTAssertEqual(packet.length, 60)
        XCTAssertEqual(packet.ttl, 64)
        XCTAssertEqual(reject.linkHeader?.count, 14)
    }

    func testImplicitEndOfChainAndPolicyEvents() throws {
        let events = try KernelFixture.load("v4-tcp-reject-input-rule7").events()
        let own = events.filter { $0.table.hasPrefix("fwtrace_") }
        // Linux >= 6.7: the end of a chain is a RULE event without a handle, verdict continue.
        let implicitEnd = try XCTUnwrap(own.first { $0.kind == .rule && $0.ruleHandle == nil })
        XCTAssertEqual(implicitEnd.verdictCode, -1)
        let policy = try XCTUnwrap(own.first { $0.kind == .policy })
        XCTAssertEqual(policy.policy, 1)
        XCTAssertEqual(policy.stepVerdict, .accept)
        XCTAssertFalse(policy.startsBaseChainRun)
    }

    func testJumpGotoAndReturnVerdicts() throws {
        let jump = try XCTUnwrap(try KernelFixture.load("v4-tcp-jump-reject-fail2ban").events().first { $0.stepVerdict == .jump })
        XCTAssertEqual(jump.jumpTarget, "fail2ban-SSH")
        XCTAssertEqual(jump.verdictCode, -3)
        let goto = try XCTUnwrap(try KernelFixture.load("nft-native-goto-return-policy").events().first { $0.stepVerdict == .goto })
        XCTAssertEqual(goto.jumpTarget, "checks")
        XCTAssertEqual(goto.tableFamily, .inet)
        let explicitReturn = try XCTUnwrap(try KernelFixture.load("nft-native-jump-explicit-return").events().first { $0.verdictCode == -5 })
        XCTAssertEqual(explicitReturn.chain, "checks")
        XCTAssertNotNil(explicitReturn.ruleHandle)
    }

    /// NFTA_TRACE_MARK as Linux 6.18 sent it (Tests/tools/capture-mark-fixtures.sh: a SYN and two
    /// ACKs to :80; `meta mark set 0x10` on the SYN, `meta mark set ct mark` on the ACKs, both in
    /// table ip marks at priority mangle). The kernel puts the mark in every event once skb->mark
    /// is non-zero, and leaves it out while it is 0: fwtrace's own chain (priority -350) runs first.
    func testMarkAttributeIsSentOnceTheMarkIsSet() throws {
        let events = try KernelFixture.load("nft-native-mark-ct-restore").events()
        let own = events.filter { $0.table.hasPrefix("fwtrace_") }
        let marked = events.filter { $0.table == "marks" }
        XCTAssertFalse(own.isEmpty)
        // SYN: 2 rules, then in each of the 2 chains the end of the chain (a handle-less rule
        // event, Linux >= 6.7) and the policy; each ACK: 1 rule, then the same 4.
        XCTAssertEqual(marked.count, 6 + 5 + 5)
        XCTAssertEqual(marked.filter { $0.kind == .rule && $0.ruleHandle == nil }.count, 6)
        XCTAssertTrue(own.allSatisfy { $0.mark == nil }, "\(own.map(\.mark))")
        XCTAssertTrue(marked.allSatisfy { $0.mark == 0x10 }, "\(marked.map(\.mark))")
        // The rule that set the mark reports it: the event is sent after the rule's statements ran.
        let setter = try XCTUnwrap(marked.first)
        XCTAssertEqual(setter.chain, "pre")
        XCTAssertEqual(setter.kind, .rule)
        XCTAssertTrue(setter.startsBaseChainRun)
    }

    func testEstablishedConntrackStatus() throws {
        let events = try KernelFixture.load("v4-tcp-accept-rule5-established").events()
        let established = try XCTUnwrap(events.first { $0.conntrack?.state == 2 })
        let ct = ConntrackSummary(established.conntrack!)
        XCTAssertEqual(ct.state, .established)
        XCTAssertTrue(ct.status.contains("confirmed"), "\(ct.status)")
        XCTAssertTrue(ct.status.contains("seen_reply"), "\(ct.status)")
    }

    func testIPv6TCPAndICMPHeaders() throws {
        let tcp = try XCTUnwrap(try KernelFixture.load("v6-tcp-accept").events().first { $0.networkHeader != nil })
        let p6 = try PacketHeaders.parse(network: tcp.networkHeader!, transport: tcp.transportHeader, nfproto: tcp.nfproto)
        XCTAssertEqual(p6.family, .ip6)
        XCTAssertEqual(p6.src.description, "fd99::1")
        XCTAssertEqual(p6.dst.description, "fd99::2")
        XCTAssertEqual(p6.dport, 80)
        XCTAssertEqual(p6.tcpFlagList, ["syn"])
        XCTAssertNotNil(p6.flowLabel)

        let echo6 = try XCTUnwrap(try KernelFixture.load("v6-icmpv6-echo-accept").events().first { $0.networkHeader != nil })
        let e6 = try PacketHeaders.parse(network: echo6.networkHeader!, transport: echo6.transportHeader, nfproto: echo6.nfproto)
        XCTAssertEqual(e6.protocolName, "icmpv6")
        XCTAssertEqual(e6.icmpType, 128)

        let echo4 = try XCTUnwrap(try KernelFixture.load("v4-icmp-echo-reject").events().first { $0.networkHeader != nil })
        let e4 = try PacketHeaders.parse(network: echo4.networkHeader!, transport: echo4.transportHeader, nfproto: echo4.nfproto)
        XCTAssertEqual(e4.protocolName, "icmp")
        XCTAssertEqual(e4.icmpType, 8)
        XCTAssertEqual(e4.icmpCode, 0)

        let udp = try XCTUnwrap(try KernelFixture.load("v4-udp-reject").events().first { $0.networkHeader != nil })
        let u = try PacketHeaders.parse(network: udp.networkHeader!, transport: udp.transportHeader, nfproto: udp.nfproto)
        XCTAssertEqual(u.protocolName, "udp")
        XCTAssertEqual(u.dport, 9999)
    }

    func testIPv6ExtensionHeaderHidesProtocolUnlessFilterNamesIt() throws {
        let event = try XCTUnwrap(try KernelFixture.load("v6-udp-hopopts-accept").events().first { $0.networkHeader != nil })
        // The kernel dumps 40 bytes of network header: the hop-by-hop header is cut off.
        XCTAssertEqual(event.networkHeader?.count, 40)
        var p = try PacketHeaders.parse(network: event.networkHeader!, transport: event.transportHeader, nfproto: event.nfproto)
        XCTAssertFalse(p.protocolKnown)
        XCTAssertEqual(p.protocolName, "unknown")
        XCTAssertNil(p.dport)
        PacketHeaders.resolveProtocol(&p, protocol: 17, transport: event.transportHeader)
        XCTAssertEqual(p.protocolName, "udp")
        XCTAssertEqual(p.dport, 5353)
    }

    func testExtensionHeaderChainInsideTheBufferIsWalked() throws {
        // A synthetic IPv6 header followed by a hop-by-hop header and then TCP (as a longer dump
        // from another source would carry it).
        var h = [UInt8](repeating: 0, count: 48)
        h[0] = 0x60; h[4] = 0; h[5] = 28; h[6] = 0; h[7] = 64
        h[8] = 0xfd; h[23] = 1; h[24] = 0xfd; h[39] = 2
        h[40] = 6; h[41] = 0   // next header TCP, length 8 bytes
        let tcp: [UInt8] = [0x30, 0x39, 0x00, 0x50] + [UInt8](repeating: 0, count: 9) + [0x02] + [0, 0, 0, 0, 0, 0]
        let p = try PacketHeaders.parse(network: h, transport: tcp, nfproto: 10)
        XCTAssertTrue(p.protocolKnown)
        XCTAssertEqual(p.protocolName, "tcp")
        XCTAssertEqual(p.sport, 12345)
        XCTAssertEqual(p.dport, 80)
    }

    // MARK: - Malformed input

    func testTruncatedMessagesYieldErrorsNotCrashes() throws {
        let fixture = try KernelFixture.load("v4-tcp-reject-input-rule7")
        var errors = 0
        for m in try fixture.messages() {
            let whole = Array(m.bytes[m.message.offset..<m.message.body.upperBound])
            let bodyStart = NetlinkMessage.headerSize
            for cut in bodyStart..<whole.count {
                let truncated = Array(whole[0..<cut])
                do { _ = try NftTraceDecoder.decode(truncated, body: bodyStart..<cut) } catch is DecodeError { errors += 1 }
            }
        }
        XCTAssertGreaterThan(errors, 100)
    }

    func testAttributeLengthBeyondContainerNamesTheOffset() throws {
        // nfgenmsg + an attribute claiming 200 bytes in a 12-byte body.
        let body: [UInt8] = [2, 0, 0, 0, 200, 0, 1, 0, 0x66, 0x6f, 0x6f, 0]
        XCTAssertThrowsError(try NftTraceDecoder.decode(body, body: 0..<body.count)) { error in
            XCTAssertEqual(error as? DecodeError, .badLength(what: "attribute type 1", offset: 4, length: 200))
        }
    }

    func testWrongPayloadLengthAndMissingNULAreTypedErrors() throws {
        // NFTA_TRACE_ID (6) with 3 bytes instead of 4.
        let shortID: [UInt8] = [2, 0, 0, 0, 7, 0, 6, 0, 1, 2, 3, 0]
        XCTAssertThrowsError(try NftTraceDecoder.decode(shortID, body: 0..<shortID.count)) { error in
            XCTAssertEqual(error as? DecodeError, .badAttributeLength(attribute: "NFTA_TRACE_ID", offset: 4, expected: "4", actual: 3))
        }
        // NFTA_TRACE_TABLE without its NUL.
        let noNUL: [UInt8] = [2, 0, 0, 0, 8, 0, 1, 0, 0x61, 0x62, 0x63, 0x64]
        XCTAssertThrowsError(try NftTraceDecoder.decode(noNUL, body: 0..<noNUL.count)) { error in
            guard case .invalidValue(let what, let offset, _)? = error as? DecodeError else { return XCTFail("\(error)") }
            XCTAssertEqual(what, "attribute NFTA_TRACE_TABLE")
            XCTAssertEqual(offset, 4)
        }
        // No type at all.
        let empty: [UInt8] = [2, 0, 0, 0]
        XCTAssertThrowsError(try NftTraceDecoder.decode(empty, body: 0..<4)) { error in
            XCTAssertEqual(error as? DecodeError, .missingAttribute("NFTA_TRACE_TYPE"))
        }
    }

    func testUnknownAttributesAreSkipped() throws {
        let m = try XCTUnwrap(try KernelFixture.load("v4-tcp-reject-input-rule7").messages().first)
        var body = Array(m.bytes[m.message.body])
        let original = try NftTraceDecoder.decode(body, body: 0..<body.count)
        body += [8, 0, 99, 0, 1, 2, 3, 4]     // attribute 99: from a future kernel
        XCTAssertEqual(try NftTraceDecoder.decode(body, body: 0..<body.count), original)
    }

    func testRandomCorruptionNeverCrashes() throws {
        var generator = SplitMix(seed: 0x5eed)
        var decoded = 0, failed = 0
        for scenario in KernelFixture.allScenarios {
            for m in try KernelFixture.load(scenario).messages() {
                let original = Array(m.bytes[m.message.body])
                for _ in 0..<200 {
                    var bytes = original
                    for _ in 0..<(1 + Int(generator.next() % 4)) {
                        bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
                    }
                    do {
                        let e = try NftTraceDecoder.decode(bytes, body: 0..<bytes.count)
                        if let n = e.networkHeader { _ = try? PacketHeaders.parse(network: n, transport: e.transportHeader, nfproto: e.nfproto) }
                        decoded += 1
                    } catch is DecodeError { failed += 1 }
                }
            }
        }
        XCTAssertGreaterThan(decoded, 0)
        XCTAssertGreaterThan(failed, 0)
    }

    func testDatagramFramingErrors() {
        XCTAssertThrowsError(try NetlinkMessage.split([1, 2, 3]))
        // A message header claiming 4096 bytes in a 20-byte datagram.
        var d = [UInt8](repeating: 0, count: 20)
        d[0] = 0; d[1] = 0x10
        XCTAssertThrowsError(try NetlinkMessage.split(d)) { error in
            XCTAssertEqual(error as? DecodeError, .badLength(what: "netlink message", offset: 0, length: 4096))
        }
    }
}

/// Deterministic pseudo-random numbers for corruption tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e3779b97f4a7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
}
