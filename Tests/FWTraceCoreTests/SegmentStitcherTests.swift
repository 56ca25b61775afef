import XCTest
@testable import FWTraceCore

/// The stitcher's join, order and merge on built segments; the live tests across real namespaces
/// are in FWTraceEndToEndTests/MultiNamespaceTests.
final class SegmentStitcherTests: XCTestCase {
    func segment(_ netns: String, dst: String, dport: UInt16, ttl: UInt8, hook: Hook, time: Double,
                 natTo: (String, UInt16)? = nil, seq: UInt32 = 1000, traceID: UInt32? = nil,
                 verdict: StepVerdict = .accept) -> PathSegment {
        var packet = PacketSummary(family: .ip, src: IPAddress("10.1.0.2")!, dst: IPAddress(dst)!, protocolNumber: 6,
                                   length: 60, ttl: ttl, ipID: 42)
        packet.sport = 40000; packet.dport = dport; packet.tcpSequence = seq
        // Distinct per namespace unless given: a shared id joins segments by itself.
        let id = traceID ?? netns.utf8.reduce(UInt32(2166136261)) { ($0 ^ UInt32($1)) &* 16777619 }
        var path = PacketPath(traceID: id, family: .ip, time: time, packet: packet)
        var step = PathStep(hook: hook, table: "filter", tableFamily: .ip, chain: "X", kind: .policy, verdict: verdict)
        path.verdict = verdict == .drop ? .drop : .accept
        path.decidedBy = 0
        if hook != .output { path.iif = "eth0" }
        if let (to, port) = natTo {
            var after = Endpoint(packet); after.dst = IPAddress(to)!; after.dport = port
            step.nat = NatChange(before: Endpoint(packet), after: after)
        }
        path.steps = [step]
        return PathSegment(netns: netns, path: path)
    }

    func testSegmentsAcrossADNATJoinInThePacketsOrder() {
        let stitcher = SegmentStitcher(window: 0.3)
        // Arriving out of order, as from three receiver threads.
        stitcher.add(segment("web", dst: "10.88.0.2", dport: 80, ttl: 63, hook: .prerouting, time: 1.0), now: 1.0)
        stitcher.add(segment("host", dst: "10.77.0.1", dport: 8080, ttl: 64, hook: .prerouting, time: 1.0, natTo: ("10.88.0.2", 80)), now: 1.01)
        stitcher.add(segment("client", dst: "10.77.0.1", dport: 8080, ttl: 64, hook: .output, time: 1.0), now: 1.02)
        XCTAssertTrue(stitcher.expired(now: 1.1).isEmpty, "still inside the window")
        let groups = stitcher.expired(now: 1.5)
        XCTAssertEqual(groups.map { $0.segments.map(\.netns) }, [["client", "host", "web"]])
    }

    func testAnotherPacketOrAnotherDestinationDoesNotJoin() {
        let stitcher = SegmentStitcher(window: 0.3)
        stitcher.add(segment("host", dst: "10.77.0.1", dport: 8080, ttl: 64, hook: .prerouting, time: 1.0, natTo: ("10.88.0.2", 80)), now: 1.0)
        stitcher.add(segment("web", dst: "10.88.0.2", dport: 80, ttl: 63, hook: .prerouting, time: 1.0, seq: 2000), now: 1.0)
        stitcher.add(segment("other", dst: "10.88.0.3", dport: 80, ttl: 63, hook: .prerouting, time: 1.0), now: 1.0)
        stitcher.add(segment("late", dst: "10.88.0.2", dport: 80, ttl: 63, hook: .prerouting, time: 2.0), now: 2.0)
        XCTAssertEqual(stitcher.flush().map { $0.segments.count }, [1, 1, 1, 1])
    }

    func testDNATRulesAddTheRewrittenPacketToTheFilter() throws {
        let save = """
        *nat
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.2:80
        -A PREROUTING -p tcp -m tcp --dport 9090 -j DNAT --to-destination 10.88.0.3:90
        COMMIT
        """
        let ruleset = Ruleset.parse(iptablesSave: save)
        var filter = TraceFilter()
        filter.proto = .tcp; filter.dport = .single(8080)
        let rewritten = filter.rewrittenByDNAT(in: [ruleset])
        XCTAssertEqual(rewritten.map { "\($0.dst!) \($0.dport!)" }, ["10.88.0.2 single(80)"])
    }

    func testMergedRecordHasEveryNamespacesStepsAndTheLastVerdict() throws {
        let stitcher = SegmentStitcher(window: 0.3)
        var host = segment("host", dst: "10.77.0.1", dport: 8080, ttl: 64, hook: .prerouting, time: 1.0, natTo: ("10.88.0.2", 80))
        host.path.oif = "veth0"
        var web = segment("web", dst: "10.88.0.2", dport: 80, ttl: 63, hook: .prerouting, time: 1.0, verdict: .drop)
        web.path.iif = "eth0"
        web.container = ContainerName(runtime: "podman", id: String(repeating: "ab", count: 32), name: "web")
        stitcher.add(web, now: 1.0)
        stitcher.add(host, now: 1.0)
        let path = try XCTUnwrap(stitcher.flush().first).merged()
        XCTAssertEqual(path.steps.map(\.netns), ["host", "web"])
        XCTAssertEqual(path.verdict, .drop)
        XCTAssertEqual(path.decidedBy, 1)
        XCTAssertEqual(path.segments.map(\.firstStep), [0, 1])
        XCTAssertEqual(path.crossings, [NamespaceCrossing(from: "host", to: "web", out: "veth0", in: "eth0")])
        XCTAssertEqual(path.hints.first?.code, "dropped-in-namespace")
        XCTAssertTrue(path.hints.first?.message.contains("container web (podman)") ?? false)
        let json = RecordEncoder.path(path, context: RecordContext(host: "h", netns: "host", backend: "nft", session: "s"))
        XCTAssertTrue(json.contains(#""segments":[{"netns":"host""#), json)
        XCTAssertTrue(json.contains(#""crossings":[{"from":"host","to":"web","out":"veth0","in":"eth0"}]"#), json)
    }

    func testOneTraceIDJoinsWithoutASeenNAT() {
        // A retransmission: conntrack applies the NAT binding, no NAT chain runs, no step shows it.
        let stitcher = SegmentStitcher(window: 0.3)
        stitcher.add(segment("host", dst: "10.77.0.1", dport: 8080, ttl: 64, hook: .prerouting, time: 1.0, traceID: 9), now: 1.0)
        stitcher.add(segment("web", dst: "10.88.0.2", dport: 80, ttl: 63, hook: .prerouting, time: 1.0, traceID: 9), now: 1.0)
        XCTAssertEqual(stitcher.flush().map { $0.segments.map(\.netns) }, [["host", "web"]])
    }

    func testTheMiddleNamespaceArrivingLastJoinsBothSides() {
        // The container's part first (a drop ends it at once), the client's (no rules: no
        // steps, sent from there), then the host's, which connects the two.
        let stitcher = SegmentStitcher(window: 0.3)
        stitcher.add(segment("web", dst: "10.88.0.2", dport: 80, ttl: 63, hook: .input, time: 1.0, traceID: 5, verdict: .drop), now: 1.0)
        var client = segment("client", dst: "10.77.0.1", dport: 8080, ttl: 64, hook: .output, time: 1.0)
        client.path.steps = []
        stitcher.add(client, now: 1.1)
        stitcher.add(segment("host", dst: "10.77.0.1", dport: 8080, ttl: 64, hook: .prerouting, time: 1.0, traceID: 5), now: 1.1)
        XCTAssertEqual(stitcher.flush().map { $0.segments.map(\.netns) }, [["client", "host", "web"]])
    }
}
