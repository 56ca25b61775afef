import Foundation
import XCTest

/// A netdev ingress chain on the server's veth: it runs before prerouting, so fwtrace hooks the
/// same device at ingress with a table netdev of its own. Each path is checked against what
/// `nft monitor trace`, run at the same time in the same namespace, printed for the same trace id,
/// and against the rules' counters.
final class NetdevIngressTests: XCTestCase {
    var lab: TestLab!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("ndv")
        let ruleset = """
        table netdev edge {
          chain in {
            type filter hook ingress device "fwte2e1" priority filter; policy accept;
            tcp dport 8080 counter drop
            udp dport 5353 counter accept
          }
        }
        table inet filter {
          chain input {
            type filter hook input priority filter; policy accept;
            udp dport 5353 counter drop
          }
        }
        """
        try E2E.applyNft(ruleset, in: lab.server)
        try lab.listen([8080])
    }

    override func tearDown() { lab?.destroy() }

    /// The lines nft printed for one trace id, without the packet lines.
    func printed(_ monitor: NftMonitor.Printed, traceID: String) -> [String] {
        monitor.lines.filter { $0.hasPrefix("trace id \(traceID) ") && !$0.contains(" packet: ") }.map {
            String($0.dropFirst("trace id \(traceID) ".count))
        }
    }

    func testADropAtIngressEndsThePathBeforePrerouting() throws {
        let monitor = try NftMonitor(namespace: lab.server)
        let capture = NSTemporaryDirectory() + "fwtrace-e2e-netdev-\(UUID().uuidString).hex"
        defer { try? FileManager.default.removeItem(atPath: capture) }
        let f = try Follow(["--netns", lab.server, "-p", "tcp", "--dport", "8080", "--count", "1", "--timeout", "10s", "--capture", capture])
        try? lab.send(["tcp", "10.99.0.2", "8080"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        let nft = monitor.stop()
        E2E.validate(f.outputPath)
        let started = try XCTUnwrap(f.records.first { $0["event"] as? String == "started" })
        XCTAssertTrue((started["rules"] as? [String] ?? []).contains { $0.hasPrefix("netdev fwtrace_") && $0.contains("(fwte2e1)") }, "\(started)")
        let path = try XCTUnwrap(f.paths.first)
        let steps = path[array: "path"]
        XCTAssertEqual(steps.map { "\($0["hook"] ?? "") \($0["table_family"] ?? "") \($0["table"] ?? "") \($0["chain"] ?? "") \($0["verdict"] ?? "")" },
                       ["ingress netdev edge in drop"])
        XCTAssertEqual(path["verdict"] as? String, "drop")
        let decided = path[object: "decided_by"]
        XCTAssertEqual(decided["hook"] as? String, "ingress")
        XCTAssertEqual(decided["text"] as? String, "tcp dport 8080 counter drop")
        // The kernel's own account of the same packet: our chain, then edge's rule and its drop.
        let id = try XCTUnwrap(path["trace_id"] as? String)
        let lines = printed(nft, traceID: id)
        XCTAssertEqual(lines.filter { !$0.hasPrefix("netdev fwtrace_") }, ["netdev edge in rule tcp dport 8080 counter packets 0 bytes 0 drop (verdict drop)"], nft.lines.joined(separator: "\n"))
        XCTAssertFalse(lines.contains { $0.hasPrefix("inet ") || $0.hasPrefix("ip ") }, "nothing after ingress: \(lines)")
        // The drop rule counted it; nothing is left of fwtrace's tables.
        XCTAssertFalse(try lab.server(["nft", "list", "chain", "netdev", "edge", "in"]).stdout.contains("tcp dport 8080 counter packets 0 "))
        XCTAssertFalse(try lab.server(["nft", "list", "tables"]).stdout.contains("fwtrace_"))
        // The capture replays to the same path: our ingress chain is known by its name.
        let replayed = try E2E.run([E2E.binary, "replay", capture, "--format", "json"]).stdout.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.filter { $0["type"] as? String == "path" }
        XCTAssertEqual(replayed.first.map { $0[array: "path"].map { "\($0["hook"] ?? "") \($0["table"] ?? "") \($0["verdict"] ?? "")" } }, ["ingress edge drop"])
    }

    func testAnAcceptAtIngressGoesOnToTheInetChains() throws {
        let monitor = try NftMonitor(namespace: lab.server)
        let f = try Follow(["--netns", lab.server, "-p", "udp", "--dport", "5353", "--count", "1", "--timeout", "10s"])
        try lab.send(["udp", "10.99.0.2", "5353"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        let nft = monitor.stop()
        E2E.validate(f.outputPath)
        let path = try XCTUnwrap(f.paths.first)
        let steps = path[array: "path"]
        XCTAssertEqual(steps.map { "\($0["hook"] ?? "") \($0["table"] ?? "") \($0["chain"] ?? "") \($0["verdict"] ?? "")" },
                       ["ingress edge in accept", "input filter input drop"])
        XCTAssertEqual(path[object: "decided_by"]["hook"] as? String, "input")
        let lines = printed(nft, traceID: try XCTUnwrap(path["trace_id"] as? String))
        let users = lines.filter { !$0.contains(" fwtrace_") }
        XCTAssertEqual(users.first, "netdev edge in rule udp dport 5353 counter packets 0 bytes 0 accept (verdict accept)", nft.lines.joined(separator: "\n"))
        XCTAssertTrue(users.contains("inet filter input rule udp dport 5353 counter packets 0 bytes 0 drop (verdict drop)"), "\(users)")
    }

    /// Both of fwtrace's tables have the owner flag: a kill -9 leaves neither, and the user's
    /// ruleset is as it was.
    func testKill9LeavesNeitherTable() throws {
        let before = try lab.server(["nft", "list", "ruleset"]).stdout
        let f = try Follow(["--netns", lab.server, "-p", "tcp", "--dport", "8080"])
        let during = try lab.server(["nft", "list", "tables"]).stdout
        XCTAssertTrue(during.contains("table netdev fwtrace_") && during.contains("table inet fwtrace_"), during)
        kill(f.process.processIdentifier, SIGKILL)
        f.wait()
        XCTAssertFalse(try lab.server(["nft", "list", "tables"]).stdout.contains("fwtrace_"))
        XCTAssertEqual(try lab.server(["nft", "list", "ruleset"]).stdout, before)
    }
}
