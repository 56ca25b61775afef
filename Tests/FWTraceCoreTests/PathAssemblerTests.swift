import XCTest
@testable import FWTraceCore

/// Path assembly replayed from real captures: the same bytes `follow` received, the same ruleset.
final class PathAssemblerTests: XCTestCase {
    func testRejectAtInputRule7() throws {
        let paths = try KernelFixture.load("v4-tcp-reject-input-rule7").paths()
        XCTAssertEqual(paths.count, 1)
        let p = paths[0]
        XCTAssertEqual(p.verdict, .reject)
        XCTAssertFalse(p.incomplete)
        let d = try XCTUnwrap(p.decidingStep)
        XCTAssertEqual(d.table, "filter"); XCTAssertEqual(d.chain, "INPUT"); XCTAssertEqual(d.hook, .input)
        XCTAssertEqual(d.rule, 7); XCTAssertEqual(d.handle, 11)
        XCTAssertEqual(d.text, "-A INPUT -j REJECT --reject-with icmp-host-prohibited")
        // fwtrace's own chain is hidden.
        XCTAssertFalse(p.steps.contains { $0.table.hasPrefix("fwtrace") })
        XCTAssertEqual(p.packet.dport, 8080)
        XCTAssertEqual(p.conntrack?.state, .new)
    }

    func testAcceptAtRule5ThenEstablishedAtRule2WithTraceIDReuse() throws {
        let fixture = try KernelFixture.load("v4-tcp-accept-rule5-established")
        let paths = try fixture.paths()
        XCTAssertEqual(paths.count, 4)
        XCTAssertEqual(paths[0].decidingStep?.rule, 5)
        XCTAssertEqual(paths[0].verdict, .accept)
        XCTAssertEqual(paths[0].packet.tcpFlagList, ["syn"])
        for p in paths.dropFirst() {
            XCTAssertEqual(p.verdict, .accept)
            XCTAssertEqual(p.decidingStep?.rule, 2)
            XCTAssertEqual(p.decidingStep?.text, "-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT")
            XCTAssertEqual(p.conntrack?.state, .established)
            // NAT chains do not see established packets: no nat PREROUTING step.
            XCTAssertFalse(p.steps.contains { $0.table == "nat" })
        }
        // Distinct packets, even where the kernel reused a trace id.
        XCTAssertEqual(Set(paths.map { $0.packet.ipID }).count, 4)
    }

    func testJumpToFail2banAndRejectThere() throws {
        let p = try XCTUnwrap(try KernelFixture.load("v4-tcp-jump-reject-fail2ban").paths().first)
        let filterSteps = p.steps.filter { $0.table == "filter" }
        XCTAssertEqual(filterSteps.map(\.kind), [.jump, .rule])
        XCTAssertEqual(filterSteps[0].rule, 1)
        XCTAssertEqual(filterSteps[0].target, "fail2ban-SSH")
        XCTAssertEqual(filterSteps[1].chain, "fail2ban-SSH")
        XCTAssertEqual(filterSteps[1].rule, 1)
        XCTAssertEqual(filterSteps[1].text, "-A fail2ban-SSH -s 10.99.0.66/32 -j REJECT --reject-with icmp-port-unreachable")
        XCTAssertEqual(p.verdict, .reject)
        XCTAssertEqual(p.decidingStep?.chain, "fail2ban-SSH")
    }

    func testJumpReturnAccept() throws {
        let p = try XCTUnwrap(try KernelFixture.load("v4-tcp-jump-return-accept").paths().first)
        let filterSteps = p.steps.filter { $0.table == "filter" }
        XCTAssertEqual(filterSteps.map(\.kind), [.jump, .return, .rule])
        XCTAssertEqual(filterSteps[1].chain, "fail2ban-SSH")
        XCTAssertNil(filterSteps[1].rule)            // the implicit end of the chain
        XCTAssertEqual(filterSteps[1].verdict, .return)
        XCTAssertEqual(filterSteps[2].rule, 4)
        XCTAssertEqual(p.verdict, .accept)
    }

    func testOlderKernelsReturnEventBecomesTheSameReturnStep() throws {
        // Before Linux 6.7 the end of a user chain is an NFT_TRACETYPE_RETURN event.
        let fixture = try KernelFixture.load("v4-tcp-jump-return-accept")
        var events = try fixture.events()
        let index = try XCTUnwrap(events.firstIndex { $0.chain == "fail2ban-SSH" && $0.ruleHandle == nil })
        events[index].kind = .return
        events[index].verdictCode = nil
        let assembler = PathAssembler(configuration: .init(ownTable: try fixture.ownTable()), ruleset: fixture.ruleset)
        var paths: [PacketPath] = []
        for e in events { paths += assembler.ingest(e, at: 1) }
        let steps = try XCTUnwrap(paths.first).steps.filter { $0.table == "filter" }
        XCTAssertEqual(steps.map(\.kind), [.jump, .return, .rule])
        XCTAssertEqual(steps[1].verdict, .return)
    }

    func testDNATIsShownWhereItHappened() throws {
        let p = try XCTUnwrap(try KernelFixture.load("v4-tcp-dnat").paths().first)
        let nat = try XCTUnwrap(p.steps.first { $0.table == "nat" })
        XCTAssertEqual(nat.text, "-A PREROUTING -p tcp -m tcp --dport 8081 -j DNAT --to-destination 10.99.0.2:80")
        XCTAssertEqual(nat.nat?.before.dport, 8081)
        XCTAssertEqual(nat.nat?.after.dport, 80)
        XCTAssertEqual(p.decidingStep?.rule, 5)     // filter saw port 80
        XCTAssertEqual(p.packet.dport, 8081)        // the packet as it arrived
    }
}

final class PathAssemblerNativeAndIPv6Tests: XCTestCase {
    func testNativeNftRuleTextAndHandles() throws {
        let accept = try XCTUnwrap(try KernelFixture.load("nft-native-set-accept").paths().first)
        let d = try XCTUnwrap(accept.decidingStep)
        XCTAssertEqual(d.table, "web"); XCTAssertEqual(d.tableFamily, .inet)
        XCTAssertEqual(d.text, "tcp dport @allowed counter accept")
        XCTAssertEqual(d.rule, 3)
        XCTAssertEqual(d.handle, 8)

        let drop = try XCTUnwrap(try KernelFixture.load("nft-native-drop").paths().first)
        XCTAssertEqual(drop.verdict, .drop)
        XCTAssertEqual(drop.decidingStep?.text, "counter drop")

        let gotoPath = try XCTUnwrap(try KernelFixture.load("nft-native-goto-return-policy").paths().first)
        let web = gotoPath.steps.filter { $0.table == "web" }
        XCTAssertEqual(web.map(\.kind), [.goto, .return, .policy])
        XCTAssertEqual(web[1].text, "return")     // the explicit return rule
        XCTAssertEqual(gotoPath.verdict, .drop)
        XCTAssertEqual(gotoPath.decidingStep?.kind, .policy)

        let jump = try XCTUnwrap(try KernelFixture.load("nft-native-jump-explicit-return").paths().first)
        XCTAssertEqual(jump.steps.filter { $0.table == "web" }.map(\.kind), [.jump, .return, .rule])
    }

    func testIPv6Paths() throws {
        let tcp = try XCTUnwrap(try KernelFixture.load("v6-tcp-accept").paths().first)
        XCTAssertEqual(tcp.family, .ip6)
        XCTAssertEqual(tcp.decidingStep?.table, "filter")
        XCTAssertEqual(tcp.decidingStep?.tableFamily, .ip6)
        XCTAssertEqual(tcp.decidingStep?.text, "-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT")
        XCTAssertEqual(tcp.decidingStep?.rule, 3)

        let hop = try XCTUnwrap(try KernelFixture.load("v6-udp-hopopts-accept").paths(filterProtocol: 17).first)
        XCTAssertEqual(hop.packet.protocolName, "udp")
        XCTAssertEqual(hop.packet.dport, 5353)
    }

    func testQuietPeriodEmitsUndecidedPathAsIncomplete() throws {
        let fixture = try KernelFixture.load("v4-tcp-jump-return-accept")
        let events = try fixture.events()
        var config = PathAssembler.Configuration(ownTable: try fixture.ownTable())
        config.quietPeriod = 0.1
        let assembler = PathAssembler(configuration: config, ruleset: fixture.ruleset)
        // Stop before the accept: the path is pending.
        let cut = try XCTUnwrap(events.firstIndex { $0.chain == "fail2ban-SSH" })
        for e in events[..<cut] { XCTAssertTrue(assembler.ingest(e, at: 10).isEmpty) }
        XCTAssertEqual(assembler.pendingCount, 1)
        XCTAssertTrue(assembler.expire(now: 10.05).isEmpty)
        let expired = assembler.expire(now: 10.2)
        XCTAssertEqual(expired.count, 1)
        XCTAssertTrue(expired[0].incomplete)
        XCTAssertEqual(expired[0].verdict, .unknown)
        XCTAssertEqual(assembler.pendingCount, 0)
    }

    /// Only our own rule's event arrived (the others were lost): the fate was not seen, so the
    /// path is unknown, not accepted; with no other base chain in the namespace it is accepted.
    func testPathWithNoStepIsUnknownUnlessNothingElseCouldSeeThePacket() throws {
        let fixture = try KernelFixture.load("v4-tcp-reject-input-rule7")
        let start = try XCTUnwrap(try fixture.events().first { $0.startsBaseChainRun && $0.table.hasPrefix("fwtrace_") })
        let config = PathAssembler.Configuration(ownTable: start.table)
        let lossy = PathAssembler(configuration: config, ruleset: fixture.ruleset)
        XCTAssertTrue(lossy.ingest(start, at: 1).isEmpty)
        let unseen = try XCTUnwrap(lossy.flush().first)
        XCTAssertTrue(unseen.steps.isEmpty)
        XCTAssertEqual(unseen.verdict, .unknown)
        XCTAssertNil(unseen.decidedBy)
        XCTAssertEqual(lossy.started, 1)

        let bare = PathAssembler(configuration: config, ruleset: Ruleset.build(nftListing: ""))
        XCTAssertTrue(bare.ingest(start, at: 1).isEmpty)
        XCTAssertEqual(bare.flush().first?.verdict, .accept)
    }

    func testPendingTableIsBoundedAndEvictionsAreEmitted() throws {
        let fixture = try KernelFixture.load("v4-tcp-jump-return-accept")
        let start = try XCTUnwrap(try fixture.events().first { $0.startsBaseChainRun && $0.table.hasPrefix("fwtrace_") })
        var config = PathAssembler.Configuration(ownTable: start.table)
        config.maxPending = 100
        let assembler = PathAssembler(configuration: config, ruleset: fixture.ruleset)
        var emitted = 0
        for id in 1...5000 as ClosedRange<UInt32> {
            var e = start
            e.traceID = id
            emitted += assembler.ingest(e, at: Double(id)).count
            XCTAssertLessThanOrEqual(assembler.pendingCount, 100)
        }
        XCTAssertEqual(assembler.evicted, 4900)
        XCTAssertEqual(emitted, 4900)
        XCTAssertEqual(assembler.flush().count, 100)
    }

    func testEventsOfPacketsThatAnotherSessionMarkedAreIgnored() throws {
        let fixture = try KernelFixture.load("v4-tcp-reject-input-rule7")
        let assembler = PathAssembler(configuration: .init(ownTable: "fwtrace_othersession"), ruleset: fixture.ruleset)
        var paths: [PacketPath] = []
        for e in try fixture.events() { paths += assembler.ingest(e, at: 1) }
        XCTAssertTrue((paths + assembler.flush()).isEmpty)
        XCTAssertGreaterThan(assembler.ignoredEvents, 0)
    }
}

final class PathAssemblerSessionIsolationTests: XCTestCase {
    func testOurChainTracedBecauseAnotherSessionMarkedThePacketDoesNotStartAPath() throws {
        let fixture = try KernelFixture.load("v4-tcp-reject-input-rule7")
        let own = try fixture.ownTable()
        // Replay as if our rule had not matched: drop our rule's event, keep our policy event
        // (which then carries the header dump, as when another session set the trace bit).
        var events = try fixture.events()
        let ruleIndex = try XCTUnwrap(events.firstIndex { $0.table == own && $0.ruleHandle != nil })
        let dump = events[ruleIndex]
        events.remove(at: ruleIndex)
        let policyIndex = try XCTUnwrap(events.firstIndex { $0.table == own && $0.kind == .policy })
        events[policyIndex].networkHeader = dump.networkHeader
        events[policyIndex].transportHeader = dump.transportHeader
        let assembler = PathAssembler(configuration: .init(ownTable: own), ruleset: fixture.ruleset)
        var paths: [PacketPath] = []
        for e in events { paths += assembler.ingest(e, at: 1) }
        XCTAssertTrue((paths + assembler.flush()).isEmpty)
    }
}

final class PathAssemblerIPv6ExtensionTests: XCTestCase {
    func testHopByHopPacketIsOnePathWithItsVerdict() throws {
        let paths = try KernelFixture.load("v6-udp-hopopts-accept").paths(filterProtocol: 17)
        XCTAssertEqual(paths.count, 1)
        let p = try XCTUnwrap(paths.first)
        XCTAssertFalse(p.incomplete)
        XCTAssertEqual(p.verdict, .accept)
        XCTAssertEqual(p.decidingStep?.text, "-A INPUT -p udp -m udp --dport 5353 -j ACCEPT")
        // Without the filter's protocol the path is still whole, its protocol honestly unknown.
        let unknown = try XCTUnwrap(try KernelFixture.load("v6-udp-hopopts-accept").paths().first)
        XCTAssertEqual(unknown.packet.protocolName, "unknown")
        XCTAssertEqual(unknown.decidingStep?.rule, 4)
    }
}
