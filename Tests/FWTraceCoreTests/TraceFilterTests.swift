import XCTest
@testable import FWTraceCore

final class TraceFilterTests: XCTestCase {
    func filter(_ build: (inout TraceFilter) throws -> Void) throws -> TraceFilter {
        var f = TraceFilter()
        try build(&f)
        try f.validate()
        return f
    }

    func testDportOnlyTracesEveryPortedProtocol() throws {
        let f = try filter { $0.dport = try TraceFilter.parsePorts("8080", option: "--dport") }
        XCTAssertEqual(f.nftMatch(for: .prerouting), "meta l4proto { tcp, udp, sctp } th dport 8080")
        XCTAssertEqual(f.nftMatch(for: .output), "meta l4proto { tcp, udp, sctp } th dport 8080")
    }

    func testFullFilterTranslation() throws {
        let f = try filter {
            $0.proto = try TraceFilter.parseProto("tcp")
            $0.src = try TraceFilter.parsePrefix("10.0.0.0/8", option: "--src")
            $0.dst = try TraceFilter.parsePrefix("192.0.2.1", option: "--dst")
            $0.sport = try TraceFilter.parsePorts("1024:2048", option: "--sport")
            $0.dport = try TraceFilter.parsePorts("443,80", option: "--dport")
            $0.inInterface = try TraceFilter.parseInterface("veth+", option: "-i")
        }
        XCTAssertEqual(f.families, [.ip])
        XCTAssertEqual(f.nftMatch(for: .prerouting),
                       "ip saddr 10.0.0.0/8 ip daddr 192.0.2.1 iifname \"veth*\" tcp sport 1024-2048 tcp dport { 80, 443 }")
        XCTAssertNil(f.nftMatch(for: .output), "locally generated packets have no input interface")
        XCTAssertEqual(f.summary, "-4 -p tcp -s 10.0.0.0/8 -d 192.0.2.1 --sport 1024:2048 --dport 80,443 -i veth+")
    }

    func testFamiliesAndICMP() throws {
        XCTAssertEqual(try filter { $0.families = [.ip6] }.nftMatch(for: .prerouting), "meta nfproto ipv6")
        XCTAssertEqual(try filter { $0.proto = .icmpv6 }.nftMatch(for: .prerouting), "meta l4proto ipv6-icmp")
        XCTAssertEqual(try filter { $0.proto = .icmpv6 }.families, [.ip6])
        XCTAssertEqual(try filter { $0.proto = try TraceFilter.parseProto("47") }.nftMatch(for: .output), "meta l4proto 47")
        XCTAssertEqual(try filter { $0.src = try TraceFilter.parsePrefix("2001:db8::/32", option: "-s") }.nftMatch(for: .prerouting), "ip6 saddr 2001:db8::/32")
    }

    func testOutputInterfaceOnlyInOutputChainAndPathFilter() throws {
        let f = try filter { $0.outInterface = "eth0" }
        XCTAssertEqual(f.nftMatch(for: .prerouting), "")
        XCTAssertEqual(f.nftMatch(for: .output), "oifname \"eth0\"")
    }

    func testMalformedInputIsRefusedWithAnExample() {
        let cases: [() throws -> Any] = [
            { try TraceFilter.parsePorts("80x", option: "--dport") },
            { try TraceFilter.parsePorts("70000", option: "--dport") },
            { try TraceFilter.parsePorts("2000:1000", option: "--dport") },
            { try TraceFilter.parsePorts("1,,2", option: "--dport") },
            { try TraceFilter.parsePorts("", option: "--dport") },
            { try TraceFilter.parseProto("tcpp") },
            { try TraceFilter.parseProto("0") },
            { try TraceFilter.parsePrefix("10.0.0.300", option: "-s") },
            { try TraceFilter.parsePrefix("10.0.0.0/33", option: "-s") },
            { try TraceFilter.parsePrefix("010.0.0.1", option: "-s") },
            { try TraceFilter.parsePrefix("fe80::1::2", option: "-s") },
            { try TraceFilter.parseInterface("eth0\"; flush ruleset", option: "-i") },
            { try TraceFilter.parseInterface("averyveryverylongname", option: "-i") },
            { try DurationParser.parse("10x") },
            { try DurationParser.parse("-1s") },
            { try RateLimit.parse("0") },
            { try RateLimit.parse("10/fortnight") },
        ]
        for (index, attempt) in cases.enumerated() {
            XCTAssertThrowsError(try attempt(), "case \(index)") { error in
                let e = error as? FilterError
                XCTAssertNotNil(e, "case \(index)")
                XCTAssertFalse(e?.example.isEmpty ?? true, "case \(index)")
            }
        }
    }

    func testContradictionsAreRefused() {
        XCTAssertThrowsError(try filter { $0.families = [.ip6]; $0.src = IPPrefix("10.0.0.1") })
        XCTAssertThrowsError(try filter { $0.src = IPPrefix("10.0.0.1"); $0.dst = IPPrefix("::1") })
        XCTAssertThrowsError(try filter { $0.families = [.ip]; $0.proto = .icmpv6 })
        XCTAssertThrowsError(try filter { $0.proto = .icmp; $0.dport = .single(80) })
    }

    func testDurationsAndLimits() throws {
        XCTAssertEqual(try DurationParser.parse("500ms"), 0.5, accuracy: 1e-9)
        XCTAssertEqual(try DurationParser.parse("10s"), 10)
        XCTAssertEqual(try DurationParser.parse("2m"), 120)
        XCTAssertEqual(try DurationParser.parse("3"), 3)
        XCTAssertEqual(try RateLimit.parse("100").nft, "limit rate 100/second")
        XCTAssertEqual(try RateLimit.parse("10/minute").nft, "limit rate 10/minute")
    }

    /// Each bound: its ends pass, one step past them is refused with the option, the range and
    /// an example (`follow --quiet-period 2000h` trapped in a poll timeout after its first path).
    func testDurationBounds() throws {
        func refusal(_ text: String, _ option: String, _ range: ClosedRange<Double>) -> String? {
            do { _ = try DurationParser.parse(text, option: option, in: range, example: "\(option) 1s"); return nil } catch let e as FilterError {
                XCTAssertEqual(e.example, "\(option) 1s")
                return e.message
            } catch { return "\(error)" }
        }
        for (option, range, low, high, below, above) in [
            ("--quiet-period", Bounds.quietPeriod, "1ms", "5s", "0.5ms", "5001ms"),
            ("--timeout", Bounds.timeout, "1ms", "720h", "0.0005", "721h"),
            ("request_timeout", Bounds.requestTimeout, "100ms", "5m", "99ms", "301s"),
            ("client_stall_timeout", Bounds.clientStallTimeout, "1s", "24h", "999ms", "1441m"),
            ("stop_timeout", Bounds.stopTimeout, "100ms", "10m", "10ms", "601"),
        ] {
            XCTAssertNil(refusal(low, option, range), "\(option) \(low)")
            XCTAssertNil(refusal(high, option, range), "\(option) \(high)")
            let allowed = "from \(DurationParser.text(range.lowerBound)) to \(DurationParser.text(range.upperBound))"
            XCTAssertEqual(refusal(below, option, range), "\(option) \(below) is out of range: give a duration \(allowed)")
            XCTAssertEqual(refusal(above, option, range), "\(option) \(above) is out of range: give a duration \(allowed)")
        }
        XCTAssertEqual(refusal("2000h", "--quiet-period", Bounds.quietPeriod), "--quiet-period 2000h is out of range: give a duration from 1ms to 5s")
        XCTAssertEqual(refusal("1000h", "request_timeout", Bounds.requestTimeout), "request_timeout 1000h is out of range: give a duration from 100ms to 5m")
        XCTAssertTrue(refusal("soon", "--timeout", Bounds.timeout)?.hasPrefix("invalid duration 'soon' for --timeout") ?? false)
        XCTAssertEqual(DurationParser.text(0.1), "100ms")
        XCTAssertEqual(DurationParser.text(90), "90s")
        XCTAssertEqual(DurationParser.text(1.5), "1500ms")
        XCTAssertEqual(DurationParser.text(86_400), "24h")
    }

    func testCountAndSizeBounds() throws {
        for (option, range) in [("--count", Bounds.count), ("--receive-buffer", Bounds.receiveBuffer), ("--receive-backlog", Bounds.receiveBacklog)] {
            XCTAssertNoThrow(try Bounds.check(range.lowerBound, option: option, in: range, unit: "a number", example: "x"))
            XCTAssertNoThrow(try Bounds.check(range.upperBound, option: option, in: range, unit: "a number", example: "x"))
            for value in [range.lowerBound - 1, range.upperBound + 1, Int.min, Int.max] {
                XCTAssertThrowsError(try Bounds.check(value, option: option, in: range, unit: "a number", example: "x")) { error in
                    XCTAssertEqual((error as? FilterError)?.message,
                                   "\(option) \(value) is out of range: give a number from \(range.lowerBound) to \(range.upperBound)")
                }
            }
        }
        XCTAssertEqual(Bounds.count, 1...1_000_000_000)
        XCTAssertEqual(Bounds.receiveBuffer, 4096...(1 << 30))
        XCTAssertEqual(Bounds.receiveBacklog, 0...(1 << 30))
    }
}

final class AddressAndOutputTests: XCTestCase {
    func testIPv6TextFollowsRFC5952() {
        XCTAssertEqual(IPAddress("2001:0db8:0000:0000:0000:0000:0000:0001")?.description, "2001:db8::1")
        XCTAssertEqual(IPAddress("fd99::2")?.description, "fd99::2")
        XCTAssertEqual(IPAddress("::")?.description, "::")
        XCTAssertEqual(IPAddress("2001:db8:0:1:0:0:0:1")?.description, "2001:db8:0:1::1")
        XCTAssertEqual(IPAddress("2001:db8:0:0:1:0:0:1")?.description, "2001:db8::1:0:0:1")
        XCTAssertEqual(IPAddress("::ffff:192.0.2.1")?.description, "::ffff:192.0.2.1")
        XCTAssertNil(IPAddress("1:2:3:4:5:6:7:8:9"))
        XCTAssertNil(IPAddress("12345::"))
        XCTAssertTrue(IPPrefix("10.0.0.0/8")!.contains(IPAddress("10.200.1.1")!))
        XCTAssertFalse(IPPrefix("10.0.0.0/9")!.contains(IPAddress("10.200.1.1")!))
    }

    func testJSONWriterEscapesAndParses() throws {
        var w = JSONWriter()
        w.beginObject()
        w.string("text", "quote \" backslash \\ newline \n tab \t bell \u{7} é ☃")
        w.int("n", -5)
        w.null("none")
        w.beginArray("list"); w.string(nil, "a"); w.bool(nil, true); w.endArray()
        w.endObject()
        let parsed = try JSONSerialization.jsonObject(with: Data(w.text.utf8)) as? [String: Any]
        XCTAssertEqual(parsed?["text"] as? String, "quote \" backslash \\ newline \n tab \t bell \u{7} é ☃")
        XCTAssertEqual(parsed?["n"] as? Int, -5)
        XCTAssertTrue(w.text.contains("\\u0007"))
        XCTAssertFalse(w.text.contains("\n"))
    }

    func testTimestamps() {
        XCTAssertEqual(Timestamp.rfc3339(0), "1970-01-01T00:00:00.000000Z")
        XCTAssertEqual(Timestamp.rfc3339(1_795_796_948.123456), "2026-11-27T16:29:08.123456Z")
        XCTAssertEqual(Timestamp.rfc3339(951_782_400.5), "2000-02-29T00:00:00.500000Z")
    }

    func testPathRecordKeysFromARealCapture() throws {
        let p = try XCTUnwrap(try KernelFixture.load("v4-tcp-reject-input-rule7").paths().first)
        let line = RecordEncoder.path(p, context: RecordContext(host: "web1", netns: "fwt-srv", backend: "nft", session: "abcd0123"))
        let r = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(r["schema"] as? String, "fwtrace/1")
        XCTAssertEqual(r["type"] as? String, "path")
        XCTAssertEqual(r["verdict"] as? String, "reject")
        XCTAssertEqual(r["family"] as? String, "ip")
        XCTAssertEqual((r["trace_id"] as? String)?.count, 8)
        let decided = try XCTUnwrap(r["decided_by"] as? [String: Any])
        XCTAssertEqual(decided["rule"] as? Int, 7)
        XCTAssertEqual(decided["chain"] as? String, "INPUT")
        let packet = try XCTUnwrap(r["packet"] as? [String: Any])
        XCTAssertEqual(packet["dport"] as? Int, 8080)
        XCTAssertTrue(packet["oif"] is NSNull)
    }

    func testTextViewHasNoEscapeCodesWithoutColor() throws {
        let p = try XCTUnwrap(try KernelFixture.load("v4-tcp-jump-return-accept").paths().first)
        let plain = TextView(color: false).render(p, netns: nil)
        XCTAssertFalse(plain.contains("\u{1b}"))
        XCTAssertTrue(plain.contains("filter/fail2ban-SSH"))
        XCTAssertTrue(plain.contains("end of chain, back to caller"))
        XCTAssertTrue(TextView(color: true).render(p, netns: nil).contains("\u{1b}["))
    }
}

final class TraceFilterMatchTests: XCTestCase {
    func testPacketMatching() throws {
        var f = TraceFilter()
        f.proto = .tcp
        f.dport = .list([80, 443])
        f.src = IPPrefix("10.99.0.0/24")
        try f.validate()
        var p = PacketSummary(family: .ip, src: IPAddress("10.99.0.1")!, dst: IPAddress("10.99.0.2")!, protocolNumber: 6, length: 60, ttl: 64)
        p.dport = 443
        XCTAssertTrue(f.matches(p))
        p.dport = 8080
        XCTAssertFalse(f.matches(p))
        p.dport = 80
        p.src = IPAddress("10.98.0.1")!
        XCTAssertFalse(f.matches(p))
        p.src = IPAddress("10.99.0.1")!
        p.protocolNumber = 17
        XCTAssertFalse(f.matches(p))
    }
}
