import Foundation
import XCTest

/// Each hint where it must fire, and a close case where it must stay silent, on the real kernel.
final class HintScenarioTests: XCTestCase {
    var lab: TestLab!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("hint")
        try lab.installClassicFirewall()
    }

    override func tearDown() { lab?.destroy() }

    func trace(_ arguments: [String], traffic: () throws -> Void) throws -> [String: Any] {
        let f = try Follow(["--netns", lab.server, "--count", "1", "--timeout", "10s"] + arguments)
        try traffic()
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        return try XCTUnwrap(f.paths.first, f.output)
    }

    func codes(_ path: [String: Any]) -> [String] { path[array: "hints"].compactMap { $0["code"] as? String } }

    func testShadowedRuleFiresForTheAppendedAcceptAndNotForOneThatWouldNotMatch() throws {
        let path = try trace(["--dport", "8080"]) { try lab.send(["tcp", "10.99.0.2", "8080"]) }
        let hint = try XCTUnwrap(path[array: "hints"].first { $0["code"] as? String == "shadowed-rule" })
        XCTAssertTrue((hint["message"] as? String ?? "").contains("iptables -I INPUT 7 -p tcp -m tcp --dport 8080 -j ACCEPT"), "\(hint)")
        XCTAssertEqual(hint[object: "evidence"]["shadowed_rule"] as? String, "8")

        // The same ACCEPT for another interface, and for another source: it would not match.
        try lab.server(["iptables-nft", "-R", "INPUT", "8", "-i", "eth9", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT"])
        let otherInterface = try trace(["--dport", "8080"]) { try lab.send(["tcp", "10.99.0.2", "8080"]) }
        XCTAssertEqual(otherInterface["verdict"] as? String, "reject")
        XCTAssertFalse(codes(otherInterface).contains("shadowed-rule"), "\(otherInterface)")
        try lab.server(["iptables-nft", "-R", "INPUT", "8", "-s", "192.0.2.0/24", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT"])
        let otherSource = try trace(["--dport", "8080"]) { try lab.send(["tcp", "10.99.0.2", "8080"]) }
        XCTAssertFalse(codes(otherSource).contains("shadowed-rule"), "\(otherSource)")
    }

    func testForwardedFiresForDNATToANamespaceBehindTheHostAndNotForLocalDelivery() throws {
        // A container-like namespace behind the server, reached by DNAT; the admin "opened" 8081
        // in INPUT, but the packet is forwarded, and FORWARD rejects.
        try lab.addNamespaceBehindServer("fwt-e2e-hint-app", serverDevice: "fwte2e2", appDevice: "fwte2e3")
        try lab.server(["iptables-nft", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "8081", "-j", "DNAT", "--to-destination", "10.98.0.2:80"])
        try lab.server(["iptables-nft", "-I", "INPUT", "1", "-p", "tcp", "--dport", "8081", "-j", "ACCEPT"])

        let path = try trace(["--dport", "8081"]) { try lab.send(["tcp", "10.99.0.2", "8081"]) }
        XCTAssertEqual(path["verdict"] as? String, "reject")
        XCTAssertEqual(path[object: "decided_by"]["chain"] as? String, "FORWARD")
        XCTAssertTrue(codes(path).contains("forwarded"), "\(path)")
        XCTAssertTrue(codes(path).contains("nat-rewrite"), "\(path)")
        let nat = try XCTUnwrap(path[array: "hints"].first { $0["code"] as? String == "nat-rewrite" })
        XCTAssertTrue((nat["message"] as? String ?? "").contains("10.98.0.2:80"), "\(nat)")

        let local = try trace(["--dport", "8080"]) { try lab.send(["tcp", "10.99.0.2", "8080"]) }
        XCTAssertFalse(codes(local).contains("forwarded"))
    }

    func testNoListenerFiresWithoutASocketAndNotWithOne() throws {
        let nothing = try trace(["--dport", "443"]) { try lab.send(["tcp", "10.99.0.2", "443"]) }
        XCTAssertEqual(nothing["verdict"] as? String, "accept")
        let hint = try XCTUnwrap(nothing[array: "hints"].first { $0["code"] as? String == "no-listener" }, "\(nothing)")
        XCTAssertEqual(hint[object: "evidence"]["port"] as? String, "443")

        try lab.listen([443])
        let listening = try trace(["--dport", "443"]) { try lab.send(["tcp", "10.99.0.2", "443"]) }
        XCTAssertEqual(listening["verdict"] as? String, "accept")
        XCTAssertFalse(codes(listening).contains("no-listener"), "\(listening)")
    }

    func testNoMatchSeenSaysWhatWasWatched() throws {
        let f = try Follow(["--netns", lab.server, "-i", "fwte2e1", "-p", "udp", "--dport", "5", "--timeout", "1s"])
        XCTAssertEqual(f.wait(), 3)
        E2E.validate(f.outputPath)
        let ended = try XCTUnwrap(f.records.last)
        let hint = try XCTUnwrap(ended[array: "hints"].first { $0["code"] as? String == "no-match-seen" })
        let message = hint["message"] as? String ?? ""
        for needle in ["-p udp --dport 5 -i fwte2e1", "IPv4 and IPv6", "prerouting", lab.server, "another interface than fwte2e1"] {
            XCTAssertTrue(message.contains(needle), "\(needle) in \(message)")
        }
        // A session that saw packets carries no such hint.
        let seen = try Follow(["--netns", lab.server, "--dport", "8080", "--count", "1", "--timeout", "10s"])
        try lab.send(["tcp", "10.99.0.2", "8080"])
        seen.wait()
        XCTAssertTrue(seen.records.last?[array: "hints"].isEmpty ?? true)
    }
}

extension HintScenarioTests {
    /// An FTP-like control connection to port 21 with no helper; then a NEW connection to a
    /// dynamic port between the same hosts, rejected: the data connection a helper would relate.
    func testHelperMissingFiresBesideAnUnhelpedControlConnectionAndNotWithoutOne() throws {
        try lab.server(["iptables-nft", "-I", "INPUT", "1", "-p", "tcp", "--dport", "21", "-j", "ACCEPT"])

        let alone = try trace(["-p", "tcp", "--dport", "40021", "-s", "10.99.0.1"]) { try lab.send(["tcp", "10.99.0.2", "40021", "--src", "10.99.0.1"]) }
        XCTAssertEqual(alone["verdict"] as? String, "reject")
        XCTAssertFalse(codes(alone).contains("helper-missing"), "no control connection: \(alone)")

        let server = Process(), client = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        server.arguments = ["netns", "exec", lab.server, "/usr/bin/python3", E2E.sendScript, "serve", "21", "20"]
        client.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        client.arguments = ["netns", "exec", lab.client, "/usr/bin/python3", E2E.sendScript, "hold", "10.99.0.2", "21", "20"]
        let serverOut = Pipe(), clientOut = Pipe()
        server.standardOutput = serverOut
        client.standardOutput = clientOut
        try server.run()
        defer { server.terminate(); client.terminate() }
        _ = serverOut.fileHandleForReading.availableData   // "serving"
        try client.run()
        _ = clientOut.fileHandleForReading.availableData   // "holding"

        let data = try trace(["-p", "tcp", "--dport", "40021", "-s", "10.99.0.1"]) { try lab.send(["tcp", "10.99.0.2", "40021", "--src", "10.99.0.1"]) }
        let hint = try XCTUnwrap(data[array: "hints"].first { $0["code"] as? String == "helper-missing" }, "\(data)")
        XCTAssertEqual(hint[object: "evidence"]["helper"] as? String, "ftp")
        XCTAssertTrue((hint["message"] as? String ?? "").contains("-j CT --helper ftp"), "\(hint)")
    }
}

extension HintScenarioTests {
    func testPolicyFiresWhenNoRuleDecidedAndNotWhenARuleDid() throws {
        // INPUT without its catch-all REJECT (rules 7 and 8 removed), policy DROP.
        try lab.server(["iptables-nft", "-D", "INPUT", "8"])
        try lab.server(["iptables-nft", "-D", "INPUT", "7"])
        try lab.server(["iptables-nft", "-P", "INPUT", "DROP"])
        let dropped = try trace(["--dport", "8080"]) { try lab.send(["tcp", "10.99.0.2", "8080"]) }
        XCTAssertEqual(dropped["verdict"] as? String, "drop")
        XCTAssertEqual(dropped[object: "decided_by"]["kind"] as? String, "policy")
        let hint = try XCTUnwrap(dropped[array: "hints"].first { $0["code"] as? String == "policy" }, "\(dropped)")
        XCTAssertEqual(hint[object: "evidence"]["chain"] as? String, "filter/INPUT")
        let accepted = try trace(["--dport", "80"]) { try lab.send(["tcp", "10.99.0.2", "80"]) }
        XCTAssertEqual(accepted[object: "decided_by"]["rule"] as? Int, 5)
        XCTAssertFalse(codes(accepted).contains("policy"))
        XCTAssertFalse(codes(accepted).contains("nat-rewrite"), "no NAT on this path")
    }

    func testConntrackHintOnEstablishedPacketsOnly() throws {
        try lab.listen([80])
        let f = try Follow(["--netns", lab.server, "-p", "tcp", "--dport", "80", "--count", "3", "--timeout", "10s"])
        try lab.send(["tcp", "10.99.0.2", "80"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        let syn = try XCTUnwrap(f.paths.first)
        XCTAssertEqual(syn[object: "conntrack"]["state"] as? String, "new")
        XCTAssertFalse(codes(syn).contains("conntrack"))
        let established = f.paths.dropFirst().filter { $0[object: "conntrack"]["state"] as? String == "established" }
        XCTAssertFalse(established.isEmpty)
        for path in established {
            let hint = try XCTUnwrap(path[array: "hints"].first { $0["code"] as? String == "conntrack" }, "\(path)")
            XCTAssertTrue((hint["message"] as? String ?? "").contains("only affect new connections"))
        }
    }
}
