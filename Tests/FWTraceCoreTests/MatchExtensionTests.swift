import Foundation
import XCTest
@testable import FWTraceCore

/// The matches the firewall managers use (issue 14): addrtype, conntrack's NAT states, recent,
/// limit and hashlimit under their assumption, mark, iprange, IPv6 extension headers; and their
/// nft forms (ct status, fib, limit, `&`).
final class MatchExtensionTests: XCTestCase {
    static let lab: [MatchEnvironment.LocalAddress] = [("o0", "10.77.0.1/24"), ("o0", "fd77::1/64"), ("lo", "127.0.0.1/8")]
        .map { MatchEnvironment.LocalAddress(interface: $0.0, prefix: IPPrefix($0.1)!) }

    func view(src: String = "10.77.0.2", dst: String = "10.77.0.1", dport: UInt16 = 22, state: String = "new",
              _ configure: (inout MatchEnvironment) -> Void = { _ in }) -> PacketView {
        var v = PacketView(family: src.contains(":") ? .ip6 : .ip, protocolNumber: 6, src: IPAddress(src)!, dst: IPAddress(dst)!,
                           sport: 40000, dport: dport, tcpFlags: 0x02, iif: "o0", ctState: ConntrackState(rawValue: state))
        var e = MatchEnvironment()
        e.localAddresses = Self.lab
        e.assumeUnderRates = true
        e.assumeRecentEmpty = true
        e.plainPacket = true
        e.mark = 0
        e.ctStatus = []
        configure(&e)
        v.environment = e
        return v
    }

    func check(_ rule: String, _ packet: PacketView, _ expected: RuleMatch, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(IptablesRuleEvaluator.evaluate(rule, against: packet), expected, rule, file: file, line: line)
    }

    func testAddrtype() {
        check("-A X -m addrtype --dst-type LOCAL -j RETURN", view(), .matches)
        check("-A X -m addrtype --dst-type LOCAL -j RETURN", view(dst: "10.88.0.2"), .doesNotMatch)
        check("-A X -m addrtype --dst-type BROADCAST -j DROP", view(dst: "10.77.0.255"), .matches)
        check("-A X -m addrtype --dst-type BROADCAST -j DROP", view(dst: "255.255.255.255"), .matches)
        check("-A X -m addrtype --dst-type MULTICAST -j DROP", view(dst: "224.0.0.251"), .matches)
        check("-A X -m addrtype --src-type BROADCAST -j DROP", view(), .doesNotMatch)
        check("-A X ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER", view(), .matches)
        check("-A X -m addrtype ! --dst-type LOCAL -j DROP", view(), .doesNotMatch)
        // A subnet's network address: broadcast on some kernels, so not decided.
        check("-A X -m addrtype --dst-type UNICAST -j DROP", view(dst: "10.77.0.0"), .unknown)
        check("-A X -m addrtype --dst-type LOCAL -j RETURN", view(src: "fd77::2", dst: "fd77::1"), .matches)
        check("-A X -m addrtype --dst-type ANYCAST -j DROP", view(src: "fd77::2", dst: "fd77::1"), .doesNotMatch)
        check("-A X -m addrtype --dst-type ANYCAST -j DROP", view(src: "fd77::2", dst: "fd77::"), .matches)
        check("-A X -m addrtype --dst-type LOCAL -j RETURN", view { $0.localAddresses = nil }, .unknown)
    }

    func testConntrackStatesAndStatus() {
        check("-A X -m conntrack --ctstate DNAT -j ACCEPT", view(), .doesNotMatch)
        check("-A X -m conntrack --ctstate DNAT -j ACCEPT", view { $0.ctStatus = ["dst_nat"] }, .matches)
        check("-A X -m conntrack --ctstate NEW,DNAT -j ACCEPT", view(state: "established") { $0.ctStatus = nil }, .unknown)
        check("-A X -m conntrack --ctstate ESTABLISHED,DNAT -j ACCEPT", view(state: "established") { $0.ctStatus = nil }, .matches)
        check("-A X -m conntrack --ctstate INVALID,NEW,UNTRACKED -j smurfs", view(), .matches)
        check("-A X -m conntrack ! --ctstate NEW -j DROP", view(), .doesNotMatch)
        check("-A X -m conntrack --ctstatus CONFIRMED -j ACCEPT", view(), .doesNotMatch)
        check("-A X -m conntrack --ctdir ORIGINAL -j ACCEPT", view(), .matches)
    }

    func testRatesAreAssumedUnderAndSaid() {
        let rule = "-A X -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix \"[UFW BLOCK] \""
        let e = IptablesRuleEvaluator.evaluation(rule, against: view())
        XCTAssertEqual(e.match, .matches)
        XCTAssertEqual(e.assumptions, [MatchAssumption(match: "-m limit --limit 3/min --limit-burst 10", assumed: "under its rate")])
        check("-A X -m hashlimit --hashlimit-above 5/sec --hashlimit-name x -j DROP", view(), .doesNotMatch)
        check(rule, view { $0.assumeUnderRates = false }, .unknown)
        // A rule that fails for sure states nothing.
        XCTAssertEqual(IptablesRuleEvaluator.evaluation("-A X -p udp -m limit --limit 3/min -j LOG", against: view()).assumptions, [])
    }

    func testRecentFromProcOrAssumedEmptyPlusThisPath() {
        let set = "-A ufw-user-input -p tcp -m tcp --dport 2222 -m conntrack --ctstate NEW -m recent --set --name DEFAULT --mask 255.255.255.255 --rsource"
        let update = "-A ufw-user-input -p tcp -m tcp --dport 2222 -m conntrack --ctstate NEW -m recent --update --seconds 30 --hitcount 6 --name DEFAULT --mask 255.255.255.255 --rsource -j ufw-user-limit"
        check(set, view(dport: 2222), .matches)
        let assumed = IptablesRuleEvaluator.evaluation(update, against: view(dport: 2222) { $0.matchedRules = [set] })
        XCTAssertEqual(assumed.match, .doesNotMatch)
        XCTAssertTrue(assumed.assumptions.first?.assumed.contains("list DEFAULT held no earlier hit from 10.77.0.2") == true, "\(assumed)")
        // Five hits in /proc and this one: six, but their age is not known.
        check(update, view(dport: 2222) { $0.matchedRules = [set]; $0.recentLists = ["DEFAULT": [IPAddress("10.77.0.2")!: 5]] }, .unknown)
        check(update, view(dport: 2222) { $0.matchedRules = [set]; $0.recentLists = ["DEFAULT": [IPAddress("10.77.0.9")!: 9]] }, .doesNotMatch)
        check("-A X -m recent --rcheck --name DEFAULT -j DROP", view { $0.matchedRules = [set] }, .matches)
        check("-A X -m recent --rcheck --name DEFAULT -j DROP", view { $0.assumeRecentEmpty = false }, .unknown)
    }

    func testMarkIprangeAndExtensionHeaders() {
        check("-A X -m mark --mark 0x2000/0x2000 -j MASQUERADE", view { $0.mark = 0x2000 }, .matches)
        check("-A X -m mark --mark 0x2000/0x2000 -j MASQUERADE", view(), .doesNotMatch)
        check("-A X -m mark --mark 0x2000/0x2000 -j MASQUERADE", view { $0.mark = nil }, .unknown)
        check("-A X -m iprange --src-range 10.77.0.1-10.77.0.5 -j DROP", view(), .matches)
        check("-A X -m iprange --src-range 10.77.0.3-10.77.0.5 -j DROP", view(), .doesNotMatch)
        check("-A ufw6-before-input -m rt --rt-type 0 -j DROP", view(src: "fd77::2", dst: "fd77::1"), .doesNotMatch)
        check("-A ufw6-before-input -m rt --rt-type 0 -j DROP", view(src: "fd77::2", dst: "fd77::1") { $0.plainPacket = false }, .unknown)
        check("-A X -m comment --comment \"-j DROP\" -p tcp -j ACCEPT", view(), .matches)
        check("-A X -m set --match-set f2b-sshd src -j REJECT", view(), .unknown)
        XCTAssertEqual(IptablesRuleEvaluator.evaluation("-A X -m set --match-set f2b-sshd src -j REJECT", against: view()).unknownMatch,
                       "-m set --match-set f2b-sshd src")
    }

    func testMarkTargets() {
        XCTAssertEqual(MarkEffect(iptablesTarget: "-A X -j MARK --set-xmark 0x2000/0x2000")?.apply(0x1), 0x2001)
        XCTAssertEqual(MarkEffect(iptablesTarget: "-A X -j MARK --set-xmark 0x0/0xff")?.apply(0x1ff), 0x100)
        XCTAssertEqual(MarkEffect(iptablesTarget: "-A X -j CONNMARK --restore-mark"), .unknown)
        XCTAssertNil(MarkEffect(iptablesTarget: "-A X -j ACCEPT"))
    }

    func nft(_ expressions: String, _ packet: PacketView) throws -> PathPredictor.EvaluatedRule {
        let json = try JSONSerialization.jsonObject(with: Data(expressions.utf8))
        guard case .array(let list)? = NftJSON(foundation: json) else { throw NSError(domain: "MatchExtensionTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "bad test JSON: \(expressions)"]) }
        var rule = Ruleset.Rule(handle: 1, chain: "c", position: 1, text: nil, syntax: .nft)
        rule.expressions = list
        return NftRuleEvaluator.evaluatedRule(rule, table: Ruleset.TableKey(family: .inet, name: "t"), in: Ruleset(), view: packet)
    }

    func testNftCtStatusFibLimitAndMasks() throws {
        let dnat = #"[{"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}, {"accept": null}]"#
        XCTAssertEqual(try nft(dnat, view()).match, .doesNotMatch)
        XCTAssertEqual(try nft(dnat, view { $0.ctStatus = ["dst_nat"] }).match, .matches)
        let rpfilter = #"[{"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr", "mark", "iif"]}}, "right": false}}, {"drop": null}]"#
        XCTAssertEqual(try nft(rpfilter, view(src: "fd77::2", dst: "fd77::1")).match, .doesNotMatch)
        XCTAssertEqual(try nft(rpfilter, view(src: "2001:db8::2", dst: "fd77::1")).match, .unknown)
        let local = #"[{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}}, {"accept": null}]"#
        XCTAssertEqual(try nft(local, view()).match, .matches)
        XCTAssertEqual(try nft(local, view(dst: "10.88.0.2")).match, .doesNotMatch)
        let limit = try nft(#"[{"limit": {"rate": 3, "burst": 10, "per": "minute"}}, {"log": null}]"#, view())
        XCTAssertEqual(limit.match, .matches)
        XCTAssertEqual(limit.assumptions, [MatchAssumption(match: "limit rate 3/minute", assumed: "under its rate")])
        let mark = #"[{"match": {"op": "==", "left": {"&": [{"meta": {"key": "mark"}}, 16384]}, "right": 16384}}, {"return": null}]"#
        XCTAssertEqual(try nft(mark, view { $0.mark = 0x4000 }).match, .matches)
        XCTAssertEqual(try nft(mark, view()).match, .doesNotMatch)
        let flags = #"[{"match": {"op": "==", "left": {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, ["fin", "syn", "rst", "ack"]]}, "right": "syn"}}, {"accept": null}]"#
        XCTAssertEqual(try nft(flags, view()).match, .matches)
        let xt = try nft(#"[{"xt": {"type": "match", "name": "recent"}}, {"accept": null}]"#, view())
        XCTAssertEqual(xt.match, .unknown)
        XCTAssertEqual(xt.unknownMatch, "xt match recent")
        XCTAssertEqual(try nft(#"[{"mangle": {"key": {"meta": {"key": "mark"}}, "value": 16}}]"#, view()).mark, .xset(value: 16, mask: .max))
    }
}
