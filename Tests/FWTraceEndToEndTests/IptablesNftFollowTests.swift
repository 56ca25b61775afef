import Foundation
import XCTest

/// `follow` against the classic firewall, set up with iptables-nft in the server namespace.
final class IptablesNftFollowTests: XCTestCase {
    var lab: TestLab!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("ipt")
        try lab.installClassicFirewall()
        try lab.listen([22, 80, 8080])
    }

    override func tearDown() { lab?.destroy() }

    func follow(_ arguments: [String], traffic: () throws -> Void) throws -> Follow {
        let f = try Follow(["--netns", lab.server, "--timeout", "10s"] + arguments)
        try traffic()
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        return f
    }

    func testPort8080IsRejectedByInputRule7() throws {
        let f = try follow(["--dport", "8080", "--count", "1"]) { try lab.send(["tcp", "10.99.0.2", "8080"]) }
        let path = try XCTUnwrap(f.paths.first)
        XCTAssertEqual(path["verdict"] as? String, "reject")
        let decided = path[object: "decided_by"]
        XCTAssertEqual(decided["table"] as? String, "filter")
        XCTAssertEqual(decided["chain"] as? String, "INPUT")
        XCTAssertEqual(decided["rule"] as? Int, 7)
        XCTAssertEqual(decided["text"] as? String, "-A INPUT -j REJECT --reject-with icmp-host-prohibited")
        XCTAssertEqual(path[object: "packet"]["dport"] as? Int, 8080)
        XCTAssertEqual(path[object: "packet"]["iif"] as? String, "fwte2e1")
        XCTAssertFalse(path[array: "path"].contains { ($0["table"] as? String ?? "").hasPrefix("fwtrace") })
        let records = f.records
        XCTAssertEqual(records.first?["event"] as? String, "started")
        XCTAssertEqual(records.last?["event"] as? String, "ended")
        XCTAssertEqual(records.last?["reason"] as? String, "count")
    }

    func testPort80IsAcceptedByRule5() throws {
        let f = try follow(["--dport", "80", "--count", "1"]) { try lab.send(["tcp", "10.99.0.2", "80"]) }
        let path = try XCTUnwrap(f.paths.first)
        XCTAssertEqual(path["verdict"] as? String, "accept")
        XCTAssertEqual(path[object: "decided_by"]["rule"] as? Int, 5)
        XCTAssertEqual(path[object: "decided_by"]["text"] as? String, "-A INPUT -p tcp -m state --state NEW -m tcp --dport 80 -j ACCEPT")
        XCTAssertEqual(path[object: "conntrack"]["state"] as? String, "new")
    }

    func testBannedSourceJumpsToFail2banAndIsRejectedThere() throws {
        let f = try follow(["--dport", "22", "-s", "10.99.0.66", "--count", "1"]) {
            try lab.send(["tcp", "10.99.0.2", "22", "--src", "10.99.0.66"])
        }
        let path = try XCTUnwrap(f.paths.first)
        let steps = path[array: "path"].filter { $0["table"] as? String == "filter" }
        XCTAssertEqual(steps.map { $0["kind"] as? String }, ["jump", "rule"])
        XCTAssertEqual(steps[0]["rule"] as? Int, 1)
        XCTAssertEqual(steps[0]["target"] as? String, "fail2ban-SSH")
        XCTAssertEqual(steps[0]["text"] as? String, "-A INPUT -p tcp -m tcp --dport 22 -j fail2ban-SSH")
        XCTAssertEqual(steps[1]["chain"] as? String, "fail2ban-SSH")
        XCTAssertEqual(steps[1]["verdict"] as? String, "drop")
        XCTAssertEqual(path["verdict"] as? String, "reject")
        XCTAssertEqual(path[object: "decided_by"]["chain"] as? String, "fail2ban-SSH")
    }

    func testAllowedSourceJumpsReturnsAndIsAccepted() throws {
        let f = try follow(["--dport", "22", "-s", "10.99.0.1", "--count", "1"]) {
            try lab.send(["tcp", "10.99.0.2", "22", "--src", "10.99.0.1"])
        }
        let path = try XCTUnwrap(f.paths.first)
        let steps = path[array: "path"].filter { $0["table"] as? String == "filter" }
        XCTAssertEqual(steps.map { $0["kind"] as? String }, ["jump", "return", "rule"])
        XCTAssertEqual(steps[1]["chain"] as? String, "fail2ban-SSH")
        XCTAssertEqual(steps[2]["rule"] as? Int, 4)
        XCTAssertEqual(path["verdict"] as? String, "accept")
    }

    func testEstablishedPacketIsAcceptedByRule2() throws {
        let f = try follow(["-p", "tcp", "--dport", "80", "--count", "3"]) { try lab.send(["tcp", "10.99.0.2", "80"]) }
        let established = f.paths.filter { $0[object: "conntrack"]["state"] as? String == "established" }
        XCTAssertFalse(established.isEmpty, f.output)
        for path in established {
            XCTAssertEqual(path["verdict"] as? String, "accept")
            XCTAssertEqual(path[object: "decided_by"]["rule"] as? Int, 2)
            XCTAssertEqual(path[object: "decided_by"]["text"] as? String, "-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT")
        }
    }

    func testDNATRewritesTheDestinationBeforeFilterSeesIt() throws {
        try lab.server(["iptables-nft", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "8081", "-j", "DNAT", "--to-destination", "10.99.0.2:80"])
        let f = try follow(["--dport", "8081", "--count", "1"]) { try lab.send(["tcp", "10.99.0.2", "8081"]) }
        let path = try XCTUnwrap(f.paths.first)
        let nat = try XCTUnwrap(path[array: "path"].first { $0["table"] as? String == "nat" })
        XCTAssertEqual(nat["chain"] as? String, "PREROUTING")
        XCTAssertEqual(nat["text"] as? String, "-A PREROUTING -p tcp -m tcp --dport 8081 -j DNAT --to-destination 10.99.0.2:80")
        XCTAssertEqual(nat[object: "nat"][object: "before"]["dport"] as? Int, 8081)
        XCTAssertEqual(nat[object: "nat"][object: "after"]["dport"] as? Int, 80)
        // Filter saw port 80: the rule that opens 80 accepted it.
        XCTAssertEqual(path[object: "decided_by"]["rule"] as? Int, 5)
        XCTAssertEqual(path["verdict"] as? String, "accept")
    }

    func testIPv6ThroughIp6tablesNft() throws {
        try lab.server(["ip6tables-nft", "-A", "INPUT", "-p", "ipv6-icmp", "-j", "ACCEPT"])
        try lab.server(["ip6tables-nft", "-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "ACCEPT"])
        try lab.server(["ip6tables-nft", "-A", "INPUT", "-j", "REJECT"])
        let f = try follow(["-6", "-p", "tcp", "--dport", "80", "--count", "1"]) { try lab.send(["tcp", "fd99::2", "80"]) }
        let path = try XCTUnwrap(f.paths.first)
        XCTAssertEqual(path["family"] as? String, "ip6")
        XCTAssertEqual(path[object: "packet"]["src"] as? String, "fd99::1")
        XCTAssertEqual(path[object: "decided_by"]["rule"] as? Int, 2)
        XCTAssertEqual(path[object: "decided_by"]["text"] as? String, "-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT")
        XCTAssertEqual(path["verdict"] as? String, "accept")
    }
}
