import Foundation
import XCTest
@testable import FWTraceCore

final class NftRuleEvaluatorTests: XCTestCase {
    func load(_ name: String) throws -> Ruleset {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name)")
        return try Ruleset.parse(nftJSON: String(contentsOf: url, encoding: .utf8))
    }

    func rich() throws -> Ruleset { try load("kernel-6.18-nft-native-rich.ruleset.json") }

    func tcp(_ dport: UInt16, from src: String = "10.99.0.1", state: ConntrackState? = .new) -> PacketView {
        PacketView(family: .ip, protocolNumber: 6, src: IPAddress(src)!, dst: IPAddress("10.99.0.2")!,
                   sport: 40000, dport: dport, icmpType: nil, tcpFlags: 0x02, iif: "veth0", oif: nil, ctState: state)
    }

    func udp(_ dport: UInt16, from src: String = "10.99.0.1") -> PacketView {
        PacketView(family: .ip, protocolNumber: 17, src: IPAddress(src)!, dst: IPAddress("10.99.0.2")!,
                   sport: 40000, dport: dport, icmpType: nil, tcpFlags: nil, iif: "veth0", oif: nil, ctState: .new)
    }

    /// Evaluates rule `position` of a chain of the inet web table.
    func eval(_ ruleset: Ruleset, _ chain: String, _ position: Int, _ packet: PacketView,
              file: StaticString = #filePath, line: UInt = #line) throws -> (RuleMatch, RuleVerdict) {
        let c = try XCTUnwrap(ruleset.chain(.inet, "web", chain), file: file, line: line)
        let rule = try XCTUnwrap(c.rules.first { $0.position == position }, file: file, line: line)
        return NftRuleEvaluator.evaluate(rule, table: "web", tableFamily: .inet, in: ruleset, packet: packet)
    }

    /// The first rule of web/input that does not answer doesNotMatch, with its answer.
    func firstDecision(_ ruleset: Ruleset, _ packet: PacketView) throws -> (Int, RuleMatch, RuleVerdict)? {
        let input = try XCTUnwrap(ruleset.chain(.inet, "web", "input"))
        for rule in input.rules {
            let (m, v) = NftRuleEvaluator.evaluate(rule, table: "web", tableFamily: .inet, in: ruleset, packet: packet)
            if m != .doesNotMatch { return (rule.position, m, v) }
        }
        return nil
    }

    func assertDecision(_ ruleset: Ruleset, _ packet: PacketView, rule: Int, _ verdict: RuleVerdict,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let d = try XCTUnwrap(try firstDecision(ruleset, packet), file: file, line: line)
        XCTAssertEqual(d.0, rule, "rule position", file: file, line: line)
        XCTAssertEqual(d.1, .matches, file: file, line: line)
        XCTAssertEqual(d.2, verdict, file: file, line: line)
    }

    // MARK: parsing

    func testParsesChainsOfTheRichRuleset() throws {
        let r = try rich()
        let input = try XCTUnwrap(r.chain(.inet, "web", "input"))
        XCTAssertEqual(input.hook, .input)
        XCTAssertEqual(input.priority, 0)
        XCTAssertEqual(input.policy, .drop)
        XCTAssertEqual(input.type, .filter)
        XCTAssertEqual(input.rules.map(\.handle), [8, 9, 10, 11, 12, 14, 15, 16, 17, 18])
        XCTAssertEqual(input.rules.map(\.position), Array(1...10))
        let pre = try XCTUnwrap(r.chain(.inet, "web", "pre"))
        XCTAssertEqual(pre.hook, .prerouting)
        XCTAssertEqual(pre.priority, -100)
        XCTAssertEqual(pre.type, .nat)
        XCTAssertEqual(pre.policy, .accept)
        let checks = try XCTUnwrap(r.chain(.inet, "web", "checks"))
        XCTAssertNil(checks.hook)
        XCTAssertNil(checks.priority)
        XCTAssertEqual(checks.rules.count, 2)
        XCTAssertNil(r.chain(.ip, "web", "input"))
        XCTAssertEqual(r.setElements(.inet, "web", "allowed"), [.number(22), .number(80)])
        XCTAssertEqual(r.baseChains(at: .input, for: .ip).map(\.key.chain), ["input"])
        XCTAssertEqual(r.baseChains(at: .input, for: .ip6).map(\.key.chain), ["input"])
        XCTAssertEqual(r.baseChains(at: .prerouting, for: .ip).map(\.key.chain), ["pre"])
        XCTAssertTrue(r.baseChains(at: .forward, for: .ip).isEmpty)
    }

    func testParsesTheIptablesNftRuleset() throws {
        let r = try load("kernel-6.18-iptables-nft-classic.ruleset.json")
        let input = try XCTUnwrap(r.chain(.ip, "filter", "INPUT"))
        XCTAssertEqual(input.hook, .input)
        XCTAssertEqual(input.priority, 0)
        XCTAssertEqual(input.policy, .accept)
        XCTAssertEqual(input.rules.count, 7)
        let pre = try XCTUnwrap(r.chain(.ip, "nat", "PREROUTING"))
        XCTAssertEqual(pre.hook, .prerouting)
        XCTAssertEqual(pre.priority, -100)
        XCTAssertEqual(r.baseChains(at: .input, for: .ip).map(\.key.chain), ["INPUT"])
        XCTAssertTrue(r.baseChains(at: .input, for: .ip6).isEmpty)
    }

    func testBaseChainsAreOrderedByPriorityAndStringPrioritiesParse() throws {
        let json = """
        {"nftables": [
          {"chain": {"family": "ip", "table": "a", "name": "late", "hook": "input", "prio": 10, "type": "filter", "policy": "accept"}},
          {"chain": {"family": "inet", "table": "b", "name": "early", "hook": "input", "prio": "mangle", "type": "filter", "policy": "accept"}},
          {"chain": {"family": "ip6", "table": "c", "name": "six", "hook": "input", "prio": "filter - 5", "type": "filter", "policy": "drop"}}
        ]}
        """
        let r = try Ruleset.parse(nftJSON: json)
        XCTAssertEqual(r.baseChains(at: .input, for: .ip).map(\.key.chain), ["early", "late"])
        XCTAssertEqual(r.baseChains(at: .input, for: .ip6).map(\.key.chain), ["early", "six"])
        XCTAssertEqual(r.chain(.inet, "b", "early")?.priority, -150)
        XCTAssertEqual(r.chain(.ip6, "c", "six")?.priority, -5)
        XCTAssertThrowsError(try Ruleset.parse(nftJSON: "{\"x\": 1}"))
        XCTAssertThrowsError(try Ruleset.parse(nftJSON: "not json"))
    }

    /// The listing is libnftables' output: parsing and evaluating it must not recurse without
    /// bound. JSONSerialization refuses more than 512 levels; what it accepts is walked here.
    func testDeeplyNestedListingsNeitherCrashNorMatch() throws {
        let tooDeep = "{\"nftables\":" + String(repeating: "[", count: 60_000) + String(repeating: "]", count: 60_000) + "}"
        XCTAssertThrowsError(try Ruleset.parse(nftJSON: tooDeep))
        let deep = String(repeating: "{\"x\":[", count: 250) + "1" + String(repeating: "]}", count: 250)
        let json = """
        {"nftables": [
          {"chain": {"family": "inet", "table": "web", "name": "input", "hook": "input", "prio": 0, "type": "filter", "policy": "accept"}},
          {"rule": {"family": "inet", "table": "web", "chain": "input", "handle": 7, "expr": [
            {"match": {"op": "==", "left": \(deep), "right": \(deep)}}, {"accept": null}]}}
        ]}
        """
        let ruleset = try Ruleset.parse(nftJSON: json)
        let (m, _) = try eval(ruleset, "input", 1, tcp(80))
        XCTAssertEqual(m, .unknown)
    }

    func testJSONConversionKeepsBooleansApartFromNumbers() throws {
        let object = try JSONSerialization.jsonObject(with: Data(#"{"a": true, "b": 1, "c": 0, "d": [null, "x", 2.5, false]}"#.utf8))
        XCTAssertEqual(NftJSON(foundation: object), .object([
            "a": .bool(true), "b": .number(1), "c": .number(0),
            "d": .array([.null, .string("x"), .number(2.5), .bool(false)]),
        ]))
    }

    // MARK: the rich ruleset's input chain

    func testEstablishedPacketIsAcceptedByRuleOne() throws {
        let r = try rich()
        let packet = tcp(8080, state: .established)
        XCTAssertTrue(try eval(r, "input", 1, packet) == (.matches, .accept))
        try assertDecision(r, packet, rule: 1, .accept)
        XCTAssertEqual(try eval(r, "input", 1, tcp(8080, state: .related)).0, .matches)
        XCTAssertEqual(try eval(r, "input", 1, tcp(8080, state: .new)).0, .doesNotMatch)
        XCTAssertEqual(try eval(r, "input", 1, tcp(8080, state: nil)).0, .unknown)
    }

    func testNewTcpTo80IsAcceptedByTheAllowedSet() throws {
        let r = try rich()
        let packet = tcp(80)
        for position in 1...4 { XCTAssertEqual(try eval(r, "input", position, packet).0, .doesNotMatch, "rule \(position)") }
        XCTAssertTrue(try eval(r, "input", 5, packet) == (.matches, .accept))
        try assertDecision(r, packet, rule: 5, .accept)
    }

    func testVerdictMap() throws {
        let r = try rich()
        try assertDecision(r, tcp(443), rule: 6, .accept)
        XCTAssertTrue(try eval(r, "input", 6, tcp(443)) == (.matches, .accept))
        XCTAssertTrue(try eval(r, "input", 6, tcp(8443)) == (.matches, .drop))
        try assertDecision(r, tcp(8443), rule: 6, .drop)
        XCTAssertEqual(try eval(r, "input", 6, tcp(8080)).0, .doesNotMatch)
        XCTAssertEqual(try eval(r, "input", 6, udp(443)).0, .doesNotMatch)   // tcp dependency
        try assertDecision(r, tcp(8080), rule: 10, .drop)
        XCTAssertTrue(try eval(r, "input", 10, tcp(8080)) == (.matches, .drop))
    }

    func testPortRangeRejects() throws {
        let r = try rich()
        try assertDecision(r, tcp(1500), rule: 9, .reject)
        XCTAssertEqual(try eval(r, "input", 9, tcp(2001)).0, .doesNotMatch)
        XCTAssertEqual(try eval(r, "input", 9, tcp(1000)).0, .matches)
    }

    func testPrefixAndUdpPort() throws {
        let r = try rich()
        XCTAssertTrue(try eval(r, "input", 7, udp(53)) == (.matches, .accept))
        try assertDecision(r, udp(53), rule: 7, .accept)
        XCTAssertEqual(try eval(r, "input", 7, udp(53, from: "192.0.2.9")).0, .doesNotMatch)
        XCTAssertEqual(try eval(r, "input", 7, udp(54)).0, .doesNotMatch)
        // ip saddr on an IPv6 packet: the implicit nfproto ipv4 dependency fails.
        let v6 = PacketView(family: .ip6, protocolNumber: 17, src: IPAddress("fd00::1")!, dst: IPAddress("fd00::2")!,
                            sport: 1, dport: 53, icmpType: nil, tcpFlags: nil, iif: "veth0", oif: nil, ctState: .new)
        XCTAssertEqual(try eval(r, "input", 7, v6).0, .doesNotMatch)
        XCTAssertTrue(try eval(r, "input", 8, udp(7777)) == (.matches, .goto("checks")))
    }

    func testJumpToChecksAndTheBlockedIntervalSet() throws {
        let r = try rich()
        XCTAssertTrue(try eval(r, "input", 4, tcp(22)) == (.matches, .jump("checks")))
        try assertDecision(r, tcp(22), rule: 4, .jump("checks"))
        XCTAssertTrue(try eval(r, "checks", 1, tcp(22, from: "10.99.0.66")) == (.matches, .drop))
        XCTAssertEqual(try eval(r, "checks", 1, tcp(22, from: "192.0.2.1")).0, .matches)
        XCTAssertEqual(try eval(r, "checks", 1, tcp(22, from: "10.99.0.1")).0, .doesNotMatch)
        XCTAssertEqual(try eval(r, "checks", 1, tcp(22, from: "10.99.0.80")).0, .doesNotMatch)
        XCTAssertTrue(try eval(r, "checks", 2, tcp(22)) == (.matches, .return))
    }

    func testIcmpEchoIsAcceptedByL4proto() throws {
        let r = try rich()
        let echo = PacketView(family: .ip, protocolNumber: 1, src: IPAddress("10.99.0.1")!, dst: IPAddress("10.99.0.2")!,
                              sport: nil, dport: nil, icmpType: 8, tcpFlags: nil, iif: "veth0", oif: nil, ctState: .new)
        XCTAssertTrue(try eval(r, "input", 3, echo) == (.matches, .accept))
        try assertDecision(r, echo, rule: 3, .accept)
        // A tcp rule on an ICMP packet does not match (the tcp dependency fails).
        XCTAssertEqual(try eval(r, "input", 5, echo).0, .doesNotMatch)
        var unknownProtocol = echo
        unknownProtocol.protocolNumber = nil
        XCTAssertEqual(try eval(r, "input", 3, unknownProtocol).0, .unknown)
        XCTAssertEqual(try eval(r, "input", 5, unknownProtocol).0, .unknown)
    }

    func testLoopbackInterface() throws {
        let r = try rich()
        var packet = tcp(8080)
        packet.iif = "lo"
        XCTAssertTrue(try eval(r, "input", 2, packet) == (.matches, .accept))
        packet.iif = nil
        XCTAssertEqual(try eval(r, "input", 2, packet).0, .unknown)
    }

    func testDnatInThePreChain() throws {
        let r = try rich()
        let (m, v) = try eval(r, "pre", 1, tcp(8081))
        XCTAssertEqual(m, .matches)
        XCTAssertEqual(v, .dnat(address: IPAddress("10.99.0.2"), port: 80))
        XCTAssertEqual(try eval(r, "pre", 1, tcp(8082)).0, .doesNotMatch)
        // `dnat ip to` in an inet table does nothing to an IPv6 packet: the rule goes on.
        let v6 = PacketView(family: .ip6, protocolNumber: 6, src: IPAddress("fd00::1")!, dst: IPAddress("fd00::2")!,
                            sport: 1, dport: 8081, icmpType: nil, tcpFlags: nil, iif: "veth0", oif: nil, ctState: .new)
        XCTAssertTrue(try eval(r, "pre", 1, v6) == (.matches, .continue))
    }

    // MARK: what is not understood

    func testXtExpressionsAreUnknown() throws {
        let r = try load("kernel-6.18-iptables-nft-classic.ruleset.json")
        let input = try XCTUnwrap(r.chain(.ip, "filter", "INPUT"))
        func eval(_ handle: UInt64, _ packet: PacketView) -> (RuleMatch, RuleVerdict) {
            let rule = input.rules.first { $0.handle == handle }!
            return NftRuleEvaluator.evaluate(rule, table: "filter", tableFamily: .ip, in: r, packet: packet)
        }
        XCTAssertEqual(eval(5, tcp(80, state: .established)).0, .unknown)   // xt conntrack
        XCTAssertEqual(eval(7, tcp(80)).0, .unknown)                        // l4proto tcp, xt conntrack, dport 80
        XCTAssertEqual(eval(7, tcp(8080)).0, .doesNotMatch)                 // dport 80 fails whatever xt says
        XCTAssertEqual(eval(7, udp(80)).0, .doesNotMatch)
        XCTAssertEqual(eval(9, tcp(80)).0, .unknown)                        // xt REJECT target
        XCTAssertTrue(eval(4, tcp(22)) == (.matches, .jump("fail2ban-SSH")))
        XCTAssertTrue(eval(10, tcp(8080)) == (.matches, .accept))
        let f2b = try XCTUnwrap(r.chain(.ip, "filter", "fail2ban-SSH")).rules[0]
        XCTAssertEqual(NftRuleEvaluator.evaluate(f2b, table: "filter", tableFamily: .ip, in: r,
                                                 packet: tcp(22, from: "10.99.0.66")).0, .unknown)
        XCTAssertEqual(NftRuleEvaluator.evaluate(f2b, table: "filter", tableFamily: .ip, in: r,
                                                 packet: tcp(22, from: "10.99.0.1")).0, .doesNotMatch)
        let nat = try XCTUnwrap(r.chain(.ip, "nat", "PREROUTING")).rules[0]
        XCTAssertEqual(NftRuleEvaluator.evaluate(nat, table: "nat", tableFamily: .ip, in: r, packet: tcp(8081)).0, .unknown)
    }

    func rule(_ expressions: String) throws -> Ruleset.Rule {
        let json = try JSONSerialization.jsonObject(with: Data(expressions.utf8))
        guard case .array(let list)? = NftJSON(foundation: json) else { throw NftListingError(description: "bad test JSON") }
        var rule = Ruleset.Rule(handle: 1, chain: "c", position: 1, text: nil, syntax: .nft)
        rule.expressions = list
        return rule
    }

    func evaluate(_ expressions: String, _ packet: PacketView, in ruleset: Ruleset? = nil) throws -> (RuleMatch, RuleVerdict) {
        NftRuleEvaluator.evaluate(try rule(expressions), table: "web", tableFamily: .inet,
                                  in: try ruleset ?? rich(), packet: packet)
    }

    func testUnknownOperatorOrExpressionIsUnknown() throws {
        let lessThan = #"[{"match": {"op": "<", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 1024}}, {"accept": null}]"#
        XCTAssertEqual(try evaluate(lessThan, tcp(80)).0, .unknown)
        XCTAssertEqual(try evaluate(lessThan, udp(80)).0, .doesNotMatch)   // the tcp dependency still fails
        XCTAssertEqual(try evaluate(#"[{"frobnicate": {"x": 1}}, {"accept": null}]"#, tcp(80)).0, .unknown)
        XCTAssertEqual(try evaluate(#"[{"limit": {"rate": 5, "per": "second"}}, {"accept": null}]"#, tcp(80)).0, .unknown)
        XCTAssertEqual(try evaluate(#"[{"match": {"op": "==", "left": {"ct": {"key": "status"}}, "right": "dnat"}}, {"accept": null}]"#, tcp(80)).0, .unknown)
        XCTAssertEqual(try evaluate(#"[{"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": 1}}, {"accept": null}]"#, tcp(80)).0, .unknown)
        XCTAssertEqual(try evaluate(#"[{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": "@nosuchset"}}, {"accept": null}]"#, tcp(80)).0, .unknown)
        // An unknown expression next to one that certainly fails: the rule does not match.
        XCTAssertEqual(try evaluate(#"[{"frobnicate": null}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": null}]"#, tcp(80)).0, .doesNotMatch)
    }

    func testOperatorsSetsAndStatementsFromNft106() throws {
        // Shapes taken from `nft -j list ruleset` of nftables 1.0.6.
        let r = try Ruleset.parse(nftJSON: """
        {"nftables": [
          {"set": {"family": "inet", "name": "s1", "table": "t", "type": "ipv4_addr", "handle": 5, "flags": ["timeout"], "elem": [{"elem": {"val": "10.0.0.1", "timeout": 3600, "expires": 3599}}, "10.0.0.2"]}},
          {"set": {"family": "inet", "name": "s3", "table": "t", "type": "ipv4_addr", "handle": 7, "flags": ["interval"], "elem": [{"range": ["10.0.0.1", "10.0.0.9"]}, {"prefix": {"addr": "192.168.0.0", "len": 16}}]}},
          {"map": {"family": "inet", "name": "m1", "table": "t", "type": "inet_service", "handle": 9, "map": "verdict", "elem": [[22, {"accept": null}], [23, {"drop": null}], [24, {"jump": {"target": "c2"}}]]}}
        ]}
        """)
        func eval(_ e: String, _ p: PacketView) throws -> (RuleMatch, RuleVerdict) {
            NftRuleEvaluator.evaluate(try rule(e), table: "t", tableFamily: .inet, in: r, packet: p)
        }
        let dport = #"{"payload": {"protocol": "tcp", "field": "dport"}}"#
        let saddr = #"{"payload": {"protocol": "ip", "field": "saddr"}}"#
        let state = #"{"ct": {"key": "state"}}"#
        XCTAssertTrue(try eval(#"[{"vmap": {"key": \#(dport), "data": "@m1"}}]"#, tcp(24)) == (.matches, .jump("c2")))
        XCTAssertEqual(try eval(#"[{"vmap": {"key": \#(dport), "data": "@m1"}}]"#, tcp(25)).0, .doesNotMatch)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": \#(saddr), "right": "@s1"}}, {"accept": null}]"#, tcp(1, from: "10.0.0.1")).0, .matches)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": \#(saddr), "right": "@s1"}}, {"accept": null}]"#, tcp(1, from: "10.0.0.3")).0, .doesNotMatch)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": \#(saddr), "right": "@s3"}}, {"accept": null}]"#, tcp(1, from: "10.0.0.9")).0, .matches)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": \#(saddr), "right": "@s3"}}, {"accept": null}]"#, tcp(1, from: "192.168.7.7")).0, .matches)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": \#(saddr), "right": "@s3"}}, {"accept": null}]"#, tcp(1, from: "10.0.0.10")).0, .doesNotMatch)
        // != with an anonymous set, and with a prefix.
        XCTAssertEqual(try eval(#"[{"match": {"op": "!=", "left": \#(dport), "right": {"set": [1, 2]}}}, {"drop": null}]"#, tcp(2)).0, .doesNotMatch)
        XCTAssertTrue(try eval(#"[{"match": {"op": "!=", "left": \#(dport), "right": {"set": [1, 2]}}}, {"drop": null}]"#, tcp(3)) == (.matches, .drop))
        XCTAssertEqual(try eval(#"[{"match": {"op": "!=", "left": \#(saddr), "right": {"prefix": {"addr": "10.0.0.0", "len": 8}}}}]"#, tcp(1, from: "10.1.2.3")).0, .doesNotMatch)
        // ct state: "in" tests any bit; "==" with {"|": ...} compares the whole bitmask.
        XCTAssertEqual(try eval(#"[{"match": {"op": "in", "left": \#(state), "right": "established"}}]"#, tcp(1, state: .established)).0, .matches)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": \#(state), "right": {"|": ["established", "new"]}}}]"#, tcp(1, state: .new)).0, .doesNotMatch)
        XCTAssertEqual(try eval(#"[{"match": {"op": "!=", "left": \#(state), "right": {"|": ["established", "related"]}}}]"#, tcp(1, state: .established)).0, .matches)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": \#(state), "right": {"set": ["established", "related"]}}}]"#, tcp(1, state: .related)).0, .matches)
        XCTAssertEqual(try eval(#"[{"match": {"op": "!=", "left": \#(state), "right": "established"}}]"#, tcp(1, state: .new)).0, .matches)
        // meta keys, wildcard interfaces, th, icmp names.
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": {"set": ["tcp", "udp"]}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "th", "field": "dport"}}, "right": 53}}]"#, udp(53)).0, .matches)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "veth*"}}]"#, tcp(1)).0, .matches)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth*"}}]"#, tcp(1)).0, .doesNotMatch)
        XCTAssertEqual(try eval(#"[{"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}}]"#, tcp(1)).0, .unknown)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv6"}}]"#, tcp(1)).0, .doesNotMatch)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": 6}}]"#, tcp(1)).0, .matches)
        let ping6 = PacketView(family: .ip6, protocolNumber: 58, src: IPAddress("fe80::1")!, dst: IPAddress("fd00::2")!,
                               icmpType: 128, ctState: .new)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": {"payload": {"protocol": "icmpv6", "field": "type"}}, "right": {"set": ["echo-request", "nd-neighbor-solicit"]}}}]"#, ping6).0, .matches)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": "echo-request"}}]"#, ping6).0, .doesNotMatch)
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}}, "right": {"prefix": {"addr": "fe80::", "len": 10}}}}]"#, ping6).0, .matches)
        // Statements.
        XCTAssertTrue(try eval(#"[{"mangle": {"key": {"meta": {"key": "mark"}}, "value": 1}}, {"log": {"prefix": "x"}}, {"counter": {"packets": 0, "bytes": 0}}]"#, tcp(1)) == (.matches, .continue))
        XCTAssertTrue(try eval(#"[{"reject": {"type": "icmpx", "expr": "admin-prohibited"}}]"#, tcp(1)) == (.matches, .reject))
        XCTAssertTrue(try eval(#"[{"queue": {"num": 3, "flags": ["bypass"]}}]"#, tcp(1)) == (.matches, .queue))
        XCTAssertTrue(try eval(#"[{"redirect": {"port": 8080}}]"#, tcp(1)) == (.matches, .dnat(address: nil, port: 8080)))
        XCTAssertTrue(try eval(#"[{"redirect": null}]"#, tcp(1)) == (.matches, .dnat(address: nil, port: nil)))
        XCTAssertTrue(try eval(#"[{"masquerade": null}]"#, tcp(1)) == (.matches, .snat))
        XCTAssertTrue(try eval(#"[{"snat": {"family": "ip", "addr": "1.2.3.4"}}]"#, tcp(1)) == (.matches, .snat))
        XCTAssertTrue(try eval(#"[{"dnat": {"family": "ip", "addr": "10.0.0.2"}}]"#, tcp(1)) == (.matches, .dnat(address: IPAddress("10.0.0.2"), port: nil)))
        XCTAssertEqual(try eval(#"[{"dnat": {"family": "ip", "addr": {"map": {"key": \#(dport), "data": "@m2"}}}}]"#, tcp(1)).0, .unknown)
        XCTAssertEqual(try eval(#"[{"mangle": {"key": {"payload": {"protocol": "tcp", "field": "dport"}}, "value": 1}}, {"accept": null}]"#, tcp(1)).0, .unknown)
        XCTAssertTrue(try eval(#"[{"match": {"op": "==", "left": \#(dport), "right": {"range": [10, 20]}}}, {"continue": null}]"#, tcp(15)) == (.matches, .continue))
        XCTAssertEqual(try eval(#"[{"match": {"op": "==", "left": \#(saddr), "right": {"range": ["10.0.0.1", "10.0.0.5"]}}}]"#, tcp(1, from: "10.0.0.5")).0, .matches)
    }
}
