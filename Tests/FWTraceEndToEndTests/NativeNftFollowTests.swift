import Foundation
import XCTest

/// `follow` against a native nftables ruleset: an inet table with a set of allowed ports.
final class NativeNftFollowTests: XCTestCase {
    var lab: TestLab!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("nft")
        let ruleset = """
        table inet web {
          set allowed { type inet_service; elements = { 22, 80 }; }
          chain input {
            type filter hook input priority filter; policy accept;
            ct state established,related accept
            tcp dport @allowed accept
            counter drop
          }
        }
        """
        let file = NSTemporaryDirectory() + "fwtrace-e2e-ruleset.nft"
        try ruleset.write(toFile: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try lab.server(["nft", "-f", file])
        try lab.listen([80])
    }

    override func tearDown() { lab?.destroy() }

    /// The handle nft itself shows for the rule whose text contains `fragment`.
    func handle(of fragment: String) throws -> Int {
        let listing = try lab.server(["nft", "-a", "list", "chain", "inet", "web", "input"]).stdout
        let line = try XCTUnwrap(listing.split(separator: "\n").first { $0.contains(fragment) })
        return try XCTUnwrap(Int(line.components(separatedBy: "# handle ").last!.trimmingCharacters(in: .whitespaces)))
    }

    func testAcceptedBySetRuleWithNftTextAndHandle() throws {
        let f = try Follow(["--netns", lab.server, "-p", "tcp", "--dport", "80", "--count", "1", "--timeout", "10s"])
        try lab.send(["tcp", "10.99.0.2", "80"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        let path = try XCTUnwrap(f.paths.first)
        let decided = path[object: "decided_by"]
        XCTAssertEqual(decided["table"] as? String, "web")
        XCTAssertEqual(decided["text"] as? String, "tcp dport @allowed accept")
        XCTAssertEqual(decided["rule"] as? Int, 2)
        XCTAssertEqual(decided["handle"] as? Int, try handle(of: "@allowed"))
        XCTAssertEqual(path[array: "path"].first { $0["table"] as? String == "web" }?["table_family"] as? String, "inet")
    }

    func testFinalDropIsShownWithItsHandle() throws {
        let f = try Follow(["--netns", lab.server, "-p", "tcp", "--dport", "8080", "--count", "1", "--timeout", "10s"])
        try lab.send(["tcp", "10.99.0.2", "8080"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        let path = try XCTUnwrap(f.paths.first)
        XCTAssertEqual(path["verdict"] as? String, "drop")
        XCTAssertEqual(path[object: "decided_by"]["text"] as? String, "counter drop")
        XCTAssertEqual(path[object: "decided_by"]["handle"] as? Int, try handle(of: "counter"))
        XCTAssertEqual(path[object: "decided_by"]["rule"] as? Int, 3)
    }

    func testRuleAddedDuringTheSessionIsResolved() throws {
        let f = try Follow(["--netns", lab.server, "-p", "tcp", "--dport", "8443", "--count", "1", "--timeout", "10s"])
        try lab.server(["nft", "insert", "rule", "inet", "web", "input", "tcp", "dport", "8443", "drop"])
        try lab.send(["tcp", "10.99.0.2", "8443"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        let path = try XCTUnwrap(f.paths.first)
        XCTAssertEqual(path[object: "decided_by"]["text"] as? String, "tcp dport 8443 drop")
        XCTAssertEqual(path[object: "decided_by"]["rule"] as? Int, 1)
        XCTAssertEqual(path[object: "decided_by"]["handle"] as? Int, try handle(of: "8443"))
    }
}

extension NativeNftFollowTests {
    func testShadowedRuleFiresForANativeAcceptAfterTheFinalDropAndNotForAnotherInterface() throws {
        try lab.server(["nft", "add", "rule", "inet", "web", "input", "tcp", "dport", "8080", "accept"])
        let f = try Follow(["--netns", lab.server, "-p", "tcp", "--dport", "8080", "--count", "1", "--timeout", "10s"])
        try lab.send(["tcp", "10.99.0.2", "8080"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        let path = try XCTUnwrap(f.paths.first)
        XCTAssertEqual(path[object: "decided_by"]["text"] as? String, "counter drop")
        let hint = try XCTUnwrap(path[array: "hints"].first { $0["code"] as? String == "shadowed-rule" }, "\(path)")
        XCTAssertEqual(hint[object: "evidence"]["shadowed_rule"] as? String, "4")
        XCTAssertTrue((hint["message"] as? String ?? "").contains("nft insert rule inet web input position \(try handle(of: "counter")) tcp dport 8080 accept"), "\(hint)")

        try lab.server(["nft", "flush", "chain", "inet", "web", "input"])
        for rule in [["ct", "state", "established,related", "accept"], ["tcp", "dport", "@allowed", "accept"], ["counter", "drop"],
                     ["iifname", "eth9", "tcp", "dport", "8080", "accept"]] {
            try lab.server(["nft", "add", "rule", "inet", "web", "input"] + rule)
        }
        let g = try Follow(["--netns", lab.server, "-p", "tcp", "--dport", "8080", "--count", "1", "--timeout", "10s"])
        try lab.send(["tcp", "10.99.0.2", "8080"])
        XCTAssertEqual(g.wait(), 0, g.stderr)
        let other = try XCTUnwrap(g.paths.first)
        XCTAssertEqual(other["verdict"] as? String, "drop")
        XCTAssertFalse(other[array: "hints"].contains { $0["code"] as? String == "shadowed-rule" }, "\(other)")
    }

    /// A native `table ip filter` (written with nft, as nftables' sets_and_maps.nft example does),
    /// which `iptables-nft-save` calls incompatible and renders in part: every step in nft syntax.
    func testNativeTableNamedLikeIptablesKeepsNftSyntaxThroughout() throws {
        let ruleset = """
        table ip filter {
          set local_ifs { type iface_index; }
          chain input_1 { counter; }
          chain input {
            type filter hook input priority filter; policy accept;
            iif @local_ifs counter
            tcp dport 8081 jump input_1
            tcp dport 8081 counter accept
          }
        }
        """
        let file = NSTemporaryDirectory() + "fwtrace-e2e-native-filter.nft"
        try ruleset.write(toFile: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try lab.server(["nft", "-f", file])
        XCTAssertTrue(try lab.server(["iptables-nft-save"]).stdout.contains("incompatible"), "the save tool must call this table incompatible")

        let f = try Follow(["--netns", lab.server, "-p", "tcp", "--dport", "8081", "--count", "1", "--timeout", "10s"])
        try lab.send(["tcp", "10.99.0.2", "8081"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        let path = try XCTUnwrap(f.paths.first)
        let steps = path[array: "path"].filter { $0["table"] as? String == "filter" }
        XCTAssertEqual(steps.compactMap { $0["text"] as? String }, ["tcp dport 8081 jump input_1", "counter", "tcp dport 8081 counter accept"], "\(steps)")
        XCTAssertFalse(steps.contains { ($0["text"] as? String)?.hasPrefix("-A ") == true }, "\(steps)")
        // `ip filter`'s input was created after setUp's `inet web` input, at the same priority: the
        // kernel runs it first, and web's `counter drop` then drops the packet (its counter shows
        // it). Before base chains of equal priority were ordered as the kernel does, the path
        // ended at filter's accept (docs/decisions.md, "Base chains of equal priority").
        XCTAssertEqual(path["verdict"] as? String, "drop", "\(path)")
        XCTAssertEqual(path[object: "decided_by"]["table"] as? String, "web", "\(path)")
        XCTAssertEqual(path[object: "decided_by"]["text"] as? String, "counter drop", "\(path)")
        let web = try lab.server(["nft", "list", "chain", "inet", "web", "input"]).stdout
        let dropLine = try XCTUnwrap(web.split(separator: "\n").first { $0.contains("drop") }, web)
        XCTAssertFalse(dropLine.contains("counter packets 0 "), "the kernel dropped it in web: \(dropLine)")
    }
}
