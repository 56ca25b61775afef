import XCTest
@testable import FWTraceCore

final class HintEngineTests: XCTestCase {
    func context(_ ruleset: Ruleset, listening: Bool? = true) -> HintContext {
        HintContext(rules: { ruleset.rulesInChain($0, $1, $2) }, listening: { _, _, _ in listening })
    }

    func codes(_ hints: [Hint]) -> [String] { hints.map(\.code) }

    func testShadowedRuleFiresForTheAppended8080Accept() throws {
        let fixture = try KernelFixture.load("v4-tcp-reject-input-rule7")
        let path = try XCTUnwrap(try fixture.paths().first)
        let hints = HintEngine.hints(for: path, context: context(fixture.ruleset))
        let hint = try XCTUnwrap(hints.first { $0.code == "shadowed-rule" })
        XCTAssertTrue(hint.message.contains("rule 8"), hint.message)
        XCTAssertTrue(hint.message.contains("rule 7"), hint.message)
        XCTAssertTrue(hint.message.contains("iptables -I INPUT 7 -p tcp -m tcp --dport 8080 -j ACCEPT"), hint.message)
        XCTAssertEqual(hint.evidence.first { $0.0 == "shadowed_rule" }?.1, "8")
    }

    func testShadowedRuleStaysSilentWhenTheLaterRuleWouldNotMatch() throws {
        let fixture = try KernelFixture.load("v4-tcp-reject-input-rule7")
        let path = try XCTUnwrap(try fixture.paths().first)
        for replacement in ["-A INPUT -i eth9 -p tcp -m tcp --dport 8080 -j ACCEPT",
                            "-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 8080 -j ACCEPT",
                            "-A INPUT -p udp -m udp --dport 8080 -j ACCEPT",
                            "-A INPUT -p tcp -m recent --rcheck -m tcp --dport 8080 -j ACCEPT"] {
            let rules = fixture.ruleset.rulesInChain(.ip, "filter", "INPUT").map {
                $0.position == 8 ? (position: 8, text: replacement, isIptables: true) : $0
            }
            let c = HintContext(rules: { f, t, ch in f == .ip && t == "filter" && ch == "INPUT" ? rules : [] }, listening: { _, _, _ in true })
            XCTAssertFalse(codes(HintEngine.hints(for: path, context: c)).contains("shadowed-rule"), replacement)
        }
    }

    func testNatRewriteAndNoForwardOnLocalDelivery() throws {
        let fixture = try KernelFixture.load("v4-tcp-dnat")
        let path = try XCTUnwrap(try fixture.paths().first)
        let hints = HintEngine.hints(for: path, context: context(fixture.ruleset))
        let nat = try XCTUnwrap(hints.first { $0.code == "nat-rewrite" })
        XCTAssertTrue(nat.message.contains("10.99.0.2:8081 → 10.99.0.2:80"), nat.message)
        XCTAssertTrue(nat.message.contains("filter/INPUT"), nat.message)
        XCTAssertFalse(codes(hints).contains("forwarded"))
    }

    func testForwardedFiresWhenThePathCrossesForward() throws {
        var path = try XCTUnwrap(try KernelFixture.load("v4-tcp-reject-input-rule7").paths().first)
        path.steps = path.steps.map { var s = $0; if s.hook == .input { s.hook = .forward; s.chain = "FORWARD" }; return s }
        let hints = HintEngine.hints(for: path, context: HintContext(rules: { _, _, _ in [] }, listening: { _, _, _ in nil }))
        XCTAssertTrue(try XCTUnwrap(hints.first { $0.code == "forwarded" }).message.contains("INPUT rules never applied"))
    }

    func testPolicyDecided() throws {
        let fixture = try KernelFixture.load("nft-native-goto-return-policy")
        let path = try XCTUnwrap(try fixture.paths().first)
        let hint = try XCTUnwrap(HintEngine.hints(for: path, context: context(fixture.ruleset)).first { $0.code == "policy" })
        XCTAssertTrue(hint.message.contains("web/input"), hint.message)
        XCTAssertTrue(hint.message.contains("dropped"), hint.message)
        // An accepting rule decided: no policy hint.
        let accepted = try XCTUnwrap(try KernelFixture.load("nft-native-set-accept").paths().first)
        XCTAssertFalse(codes(HintEngine.hints(for: accepted, context: context(fixture.ruleset))).contains("policy"))
    }

    func testConntrackEarlyAcceptOnlyForEstablished() throws {
        let fixture = try KernelFixture.load("v4-tcp-accept-rule5-established")
        let paths = try fixture.paths()
        XCTAssertFalse(codes(HintEngine.hints(for: paths[0], context: context(fixture.ruleset))).contains("conntrack"))
        let hint = try XCTUnwrap(HintEngine.hints(for: paths[1], context: context(fixture.ruleset)).first { $0.code == "conntrack" })
        XCTAssertTrue(hint.message.contains("ESTABLISHED"), hint.message)
        XCTAssertTrue(hint.message.contains("only affect new connections"), hint.message)
    }

    func testNoListenerOnlyWhenNothingListens() throws {
        let fixture = try KernelFixture.load("v4-tcp-accept-rule5-established")
        let syn = try XCTUnwrap(try fixture.paths().first)
        let silent = HintEngine.hints(for: syn, context: context(fixture.ruleset, listening: true))
        XCTAssertFalse(codes(silent).contains("no-listener"))
        let unknown = HintEngine.hints(for: syn, context: context(fixture.ruleset, listening: nil))
        XCTAssertFalse(codes(unknown).contains("no-listener"))
        let fired = try XCTUnwrap(HintEngine.hints(for: syn, context: context(fixture.ruleset, listening: false)).first { $0.code == "no-listener" })
        XCTAssertTrue(fired.message.contains("tcp 10.99.0.2:80"), fired.message)
    }
}

final class IptablesRuleEvaluatorTests: XCTestCase {
    var packet: PacketView!

    override func setUpWithError() throws {
        let path = try XCTUnwrap(try KernelFixture.load("v4-tcp-reject-input-rule7").paths().first)
        packet = PacketView(path: path, beforeStep: path.decidedBy!)
    }

    func check(_ line: String, _ expected: RuleMatch, file: StaticString = #filePath, line number: UInt = #line) {
        XCTAssertEqual(IptablesRuleEvaluator.evaluate(line, against: packet), expected, line, file: file, line: number)
    }

    func testMatches() {
        check("-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT", .matches)
        check("-A INPUT -j REJECT --reject-with icmp-host-prohibited", .matches)
        check("-A INPUT -s 10.99.0.0/24 -d 10.99.0.2/32 -i fwtcap+ -p tcp -m multiport --dports 80,8080 -j ACCEPT", .matches)
        check("-A INPUT -p tcp -m state --state NEW -m tcp --dport 8000:8100 -j ACCEPT", .matches)
        check("-A INPUT ! -s 192.0.2.1/32 -p tcp -m conntrack --ctstate NEW,RELATED -j ACCEPT", .matches)
        check("-A INPUT -m comment --comment \"a rule -p udp\" -p tcp -j ACCEPT", .matches)
    }

    func testDoesNotMatch() {
        check("-A INPUT -p udp -j ACCEPT", .doesNotMatch)
        check("-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT", .doesNotMatch)
        check("-A INPUT -i lo -j ACCEPT", .doesNotMatch)
        check("-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT", .doesNotMatch)
        check("-A INPUT ! -p tcp -j ACCEPT", .doesNotMatch)
        check("-A INPUT -p tcp -m multiport --dports 22,443 -j ACCEPT", .doesNotMatch)
        // A non-match decides even next to an unknown match.
        check("-A INPUT -p udp -m recent --rcheck -j ACCEPT", .doesNotMatch)
    }

    func testUnknownMatchesStayUnknown() {
        check("-A INPUT -p tcp -m recent --rcheck --seconds 60 -j ACCEPT", .unknown)
        check("-A INPUT -m set --match-set allowed src -j ACCEPT", .unknown)
        // What needs the namespace's state or an assumption stays unknown without an environment.
        check("-A INPUT -m addrtype --dst-type LOCAL -j ACCEPT", .unknown)
        check("-A INPUT -m limit --limit 3/min -j ACCEPT", .unknown)
        check("-A INPUT -m mark --mark 0x1 -j ACCEPT", .unknown)
        check("-A INPUT -m conntrack --ctstate DNAT -j ACCEPT", .unknown)
    }

    func testMixedMultiportListsAndTcpFlags() {
        check("-A INPUT -p tcp -m multiport --dports 80,8000:8100,8080 -j ACCEPT", .matches)
        check("-A INPUT -p tcp -m multiport --dports 80,8000:8070 -j ACCEPT", .doesNotMatch)
        check("-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT", .matches)
        check("-A INPUT -p tcp -m tcp ! --syn -j ACCEPT", .doesNotMatch)
        check("-A INPUT -p tcp -m tcp --tcp-flags SYN,RST SYN,RST -j DROP", .doesNotMatch)
    }
}


final class ControlConnectionTests: XCTestCase {
    func testHelperMissingNeedsAnUnhelpedEstablishedControlConnection() throws {
        var path = try XCTUnwrap(try KernelFixture.load("v4-tcp-reject-input-rule7").paths().first)
        path.packet.dport = 40021
        let control = ControlConnection(protocolName: "tcp", client: IPAddress("10.99.0.1")!, server: IPAddress("10.99.0.2")!,
                                        clientPort: 50000, port: 21, state: "ESTABLISHED", helper: nil)
        var context = HintContext(rules: { _, _, _ in [] }, listening: { _, _, _ in true })
        context.controlConnections = { _, _ in [control] }
        XCTAssertTrue(HintEngine.hints(for: path, context: context).contains { $0.code == "helper-missing" })
        var helped = control
        helped.helper = "ftp"
        context.controlConnections = { _, _ in [helped] }
        XCTAssertFalse(HintEngine.hints(for: path, context: context).contains { $0.code == "helper-missing" })
        context.controlConnections = { _, _ in [] }
        XCTAssertFalse(HintEngine.hints(for: path, context: context).contains { $0.code == "helper-missing" })
        path.packet.dport = 80   // a well-known port is not a dynamic data port
        context.controlConnections = { _, _ in [control] }
        XCTAssertFalse(HintEngine.hints(for: path, context: context).contains { $0.code == "helper-missing" })
    }

    /// Where a manager decided, the helper's fix is the manager's (firewalld: its ftp service, also
    /// as evidence `fix`) or the raw CT rule with the manager's overwrite warning (Shorewall rewrites
    /// the raw table too). The deciding steps of real rejections: Fixtures/owners/firewalld and shorewall.
    func testHelperMissingSpeaksTheOwnersLanguage() throws {
        func hint(_ tool: String, _ trace: String) throws -> Hint {
            var path = try OwnerFixture.load(tool).path(trace, state: OwnerFixture.followState(OwnerFixture.load(tool).directory))
            path.packet.dport = 40021
            let control = ControlConnection(protocolName: "tcp", client: path.packet.src, server: path.packet.dst,
                                            clientPort: 50000, port: 21, state: "ESTABLISHED", helper: nil)
            var context = HintContext(rules: { _, _, _ in [] }, listening: { _, _, _ in true })
            context.controlConnections = { _, _ in [control] }
            return try XCTUnwrap(HintEngine.hints(for: path, context: context).first { $0.code == "helper-missing" }, "\(tool)/\(trace)")
        }
        let firewalld = try hint("firewalld", "v4-8080-public-rejected")
        XCTAssertEqual(firewalld.value("fix"), "firewall-cmd --zone public --add-service ftp --permanent; firewall-cmd --reload")
        let shorewall = try hint("shorewall", "v4-23-rule-reject")
        XCTAssertNil(shorewall.value("fix"))
        XCTAssertTrue(shorewall.message.contains("iptables -t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp — but Shorewall will overwrite this edit"), shorewall.message)
    }
}
