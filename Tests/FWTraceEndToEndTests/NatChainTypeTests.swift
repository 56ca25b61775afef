import Foundation
import XCTest

/// NAT chains never decide, whatever their table is called: firewalld keeps its NAT chains in
/// `table inet firewalld` beside its filter chains. A forward-port there is DNATed in
/// nat_PREROUTING's zone chains, accepted by `ct status dnat accept` in filter_FORWARD and
/// masqueraded in a regular chain reached from the `type nat` chain nat_POSTROUTING.
final class NatChainTypeTests: XCTestCase {
    var lab: TestLab!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("natty")
        try lab.addNamespaceBehindServer("fwt-e2e-natty-a", serverDevice: "fwtapp0", appDevice: "fwtapp1")
    }

    override func tearDown() { lab?.destroy() }

    /// The chains firewalld 1.3 makes for a zone with a forward-port and masquerade (names,
    /// types, priorities and the rules on this packet's way), loaded with nft.
    let firewalldLayout = """
    table inet firewalld {
      chain nat_PREROUTING { type nat hook prerouting priority dstnat + 10; policy accept; jump nat_PREROUTING_ZONES; }
      chain nat_PREROUTING_ZONES { iifname "fwte2e1" goto nat_PRE_public; goto nat_PRE_public; }
      chain nat_PRE_public { jump nat_PRE_public_pre; jump nat_PRE_public_log; jump nat_PRE_public_deny; jump nat_PRE_public_allow; jump nat_PRE_public_post; }
      chain nat_PRE_public_pre { }
      chain nat_PRE_public_log { }
      chain nat_PRE_public_deny { }
      chain nat_PRE_public_allow { meta nfproto ipv4 tcp dport 8081 dnat ip to 10.98.0.2:80; }
      chain nat_PRE_public_post { }
      chain nat_POSTROUTING { type nat hook postrouting priority srcnat + 10; policy accept; jump nat_POSTROUTING_ZONES; }
      chain nat_POSTROUTING_ZONES { oifname "fwtapp0" goto nat_POST_public; goto nat_POST_public; }
      chain nat_POST_public { jump nat_POST_public_pre; jump nat_POST_public_log; jump nat_POST_public_deny; jump nat_POST_public_allow; jump nat_POST_public_post; }
      chain nat_POST_public_pre { }
      chain nat_POST_public_log { }
      chain nat_POST_public_deny { }
      chain nat_POST_public_allow { meta nfproto ipv4 oifname != "lo" masquerade; }
      chain nat_POST_public_post { }
      chain filter_FORWARD {
        type filter hook forward priority filter + 10; policy accept;
        ct state { established, related } accept
        ct status dnat accept
        iifname "lo" accept
        ct state { invalid } drop
        reject with icmpx admin-prohibited
      }
    }
    """

    func testTheFilterAcceptDecidesNotTheMasquerade() throws {
        let file = NSTemporaryDirectory() + "fwtrace-e2e-firewalld-layout.nft"
        try firewalldLayout.write(toFile: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try lab.server(["nft", "-f", file])

        let f = try Follow(["--netns", lab.server, "-p", "tcp", "--dport", "8081", "--count", "1", "--timeout", "10s"])
        try lab.send(["tcp", "10.99.0.2", "8081"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        let path = try XCTUnwrap(f.paths.first, f.output)
        let steps = path[array: "path"]
        // The masquerade accepted in its NAT chain and is shown, with the rewrite.
        let masquerade = try XCTUnwrap(steps.first { $0["chain"] as? String == "nat_POST_public_allow" && $0["kind"] as? String == "rule" }, "\(steps)")
        XCTAssertEqual(masquerade["verdict"] as? String, "accept")
        XCTAssertEqual(path["verdict"] as? String, "accept")
        let decided = path[object: "decided_by"]
        XCTAssertEqual(decided["chain"] as? String, "filter_FORWARD", "\(path)")
        XCTAssertEqual(decided["text"] as? String, "ct status dnat accept")
        XCTAssertEqual(decided["hook"] as? String, "forward")
    }

    /// The same question on the real firewalld (Debian 12's 1.3, in the server namespace on a
    /// private bus): a forward-port to the third namespace, with masquerade, made by firewall-cmd.
    func testRealFirewalldForwardPortIsDecidedByItsFilterNotItsNat() throws {
        let tool = E2E.packageRoot.appendingPathComponent("Tests/tools/firewalld-netns.sh").path
        let state = NSTemporaryDirectory() + "fwtrace-e2e-firewalld-\(getpid())"
        try E2E.run([tool, "start", lab.server, state])
        defer { _ = try? E2E.run([tool, "stop", lab.server, state], check: false) }
        for arguments in [["--zone=public", "--add-interface=fwte2e1"], ["--zone=public", "--add-interface=fwtapp0"],
                          ["--zone=public", "--add-forward-port=port=8081:proto=tcp:toport=80:toaddr=10.98.0.2"],
                          ["--zone=public", "--add-masquerade"]] {
            try E2E.run([tool, "cmd", lab.server, state, "--", "firewall-cmd"] + arguments)
        }
        let ruleset = try lab.server(["nft", "list", "table", "inet", "firewalld"]).stdout
        XCTAssertTrue(ruleset.contains("type nat hook postrouting"), ruleset)

        let f = try Follow(["--netns", lab.server, "-p", "tcp", "--dport", "8081", "--count", "1", "--timeout", "10s"])
        try lab.send(["tcp", "10.99.0.2", "8081"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        let path = try XCTUnwrap(f.paths.first, f.output)
        let steps = path[array: "path"]
        XCTAssertTrue(steps.contains { $0["chain"] as? String == "nat_PRE_public_allow" && ($0["text"] as? String)?.contains("dnat ip to 10.98.0.2:80") == true }, "\(steps)")
        XCTAssertTrue(steps.contains { $0["chain"] as? String == "nat_POST_public_allow" && ($0["text"] as? String)?.contains("masquerade") == true }, "\(steps)")
        XCTAssertEqual(path["verdict"] as? String, "accept")
        let decided = path[object: "decided_by"]
        XCTAssertEqual(decided["table"] as? String, "firewalld")
        XCTAssertEqual(decided["chain"] as? String, "filter_FORWARD", "\(path)")
        XCTAssertEqual(decided["text"] as? String, "ct status dnat accept")
    }
}
