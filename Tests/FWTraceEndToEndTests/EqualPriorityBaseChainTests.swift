import Foundation
import XCTest

/// Two base chains at one hook with the same priority, in two tables: the kernel runs the one
/// registered later first (nf_hook_entries_grow, net/netfilter/core.c). The first the kernel
/// runs accepts and the second drops, so a path wrongly ended after the first shows as accepted.
/// follow's steps, its verdict and `explain`'s prediction are checked against the order the
/// kernel itself reports in `nft monitor trace`, run in the namespace at the same time.
final class EqualPriorityBaseChainTests: XCTestCase {
    var lab: TestLab!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("eqprio", prefix: "fwt-rsm")
    }

    override func tearDown() { lab?.destroy() }

    /// `table inet aaa` is created first, `table inet zzz` second: by name aaa comes first, but
    /// the kernel runs zzz's chain first (it registered later). zzz accepts, aaa drops.
    func testTablesCreatedTogetherRunNewestFirstInFollowAndExplain() throws {
        try load("""
        table inet aaa {
          chain input { type filter hook input priority filter; policy accept; udp dport 5353 drop; }
        }
        table inet zzz {
          chain input { type filter hook input priority filter; policy accept; udp dport 5353 accept; }
        }
        """)
        let (path, kernelOrder) = try followWithMonitor()
        XCTAssertEqual(kernelOrder, ["zzz/input", "aaa/input"], "the kernel's own account")
        XCTAssertEqual(chainOrder(path), kernelOrder, "\(path)")
        XCTAssertEqual(path["verdict"] as? String, "drop", "\(path)")
        XCTAssertNil(path["incomplete"], "\(path)")
        XCTAssertEqual(path[object: "decided_by"]["table"] as? String, "aaa", "\(path)")

        let prediction = try explain()
        XCTAssertEqual(chainOrder(prediction), kernelOrder, "\(prediction)")
        XCTAssertEqual(prediction["verdict"] as? String, "drop", "\(prediction)")
        XCTAssertEqual(prediction[object: "decided_by"]["table"] as? String, "aaa", "\(prediction)")
    }

    /// A chain added later to the older table runs before the newer table's chain, where the
    /// handles put it after: the accept in aaa/late would end the path if follow believed them.
    /// follow learns the order from the packet's events; explain, which sees no events, keeps the
    /// handles' order (docs/decisions.md, "Base chains of equal priority").
    func testAChainAddedLaterToAnOlderTableIsLearnedFromTheTrace() throws {
        try load("""
        table inet aaa {
          chain unused { }
        }
        table inet zzz {
          chain input { type filter hook input priority filter; policy accept; udp dport 5353 drop; }
        }
        """)
        try lab.server(["nft", "add chain inet aaa late { type filter hook input priority filter; policy accept; }"])
        try lab.server(["nft", "add rule inet aaa late udp dport 5353 accept"])
        let (path, kernelOrder) = try followWithMonitor()
        XCTAssertEqual(kernelOrder, ["aaa/late", "zzz/input"], "the kernel's own account")
        XCTAssertEqual(chainOrder(path), kernelOrder, "\(path)")
        XCTAssertEqual(path["verdict"] as? String, "drop", "\(path)")
        XCTAssertNil(path["incomplete"], "\(path)")
        XCTAssertEqual(path[object: "decided_by"]["table"] as? String, "zzz", "\(path)")

        // The documented limit: explain orders by handles, so zzz's drop comes first there.
        let prediction = try explain()
        XCTAssertEqual(chainOrder(prediction), ["zzz/input"], "\(prediction)")
        XCTAssertEqual(prediction["verdict"] as? String, "drop", "\(prediction)")
    }

    // MARK: - Support

    func load(_ ruleset: String) throws {
        let file = NSTemporaryDirectory() + "fwtrace-e2e-eqprio-\(getpid()).nft"
        try ruleset.write(toFile: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try lab.server(["nft", "-f", file])
    }

    /// One UDP packet to 5353 under `follow` and `nft monitor trace` at once: the path, and the
    /// order of the user's base chains in the kernel's trace (fwtrace's own table left out).
    func followWithMonitor() throws -> (path: [String: Any], kernelOrder: [String]) {
        let monitor = Process()
        monitor.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        monitor.arguments = ["ip", "netns", "exec", lab.server, "nft", "monitor", "trace"]
        let out = Pipe()
        monitor.standardOutput = out
        try monitor.run()
        defer { if monitor.isRunning { monitor.terminate() }; monitor.waitUntilExit() }
        usleep(300_000)   // the monitor subscribes before the packet is sent

        let f = try Follow(["--netns", lab.server, "-4", "-p", "udp", "--dport", "5353", "--count", "1", "--timeout", "10s"])
        try lab.send(["udp", "10.99.0.2", "5353"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        let path = try XCTUnwrap(f.paths.first, f.output)
        usleep(200_000)
        monitor.terminate()
        monitor.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // "trace id 3f1a2b4c inet zzz input rule udp dport 5353 accept (verdict accept)"
        var order: [String] = []
        for line in text.split(separator: "\n") where line.hasPrefix("trace id ") {
            let words = line.split(separator: " ")
            guard words.count > 5, !words[4].hasPrefix("fwtrace") else { continue }
            let chain = "\(words[4])/\(words[5])"
            if order.last != chain { order.append(chain) }
        }
        return (path, order)
    }

    /// The base chains a path or prediction went through, in order, as `table/chain`.
    func chainOrder(_ path: [String: Any]) -> [String] {
        var order: [String] = []
        for step in path[array: "path"] {
            let chain = "\(step["table"] as? String ?? "?")/\(step["chain"] as? String ?? "?")"
            if order.last != chain { order.append(chain) }
        }
        return order
    }

    func explain() throws -> [String: Any] {
        let result = try E2E.run([E2E.binary, "explain", "--netns", lab.server, "--format", "json", "-p", "udp",
                                  "-s", "10.99.0.1", "-d", "10.99.0.2", "-i", "fwte2e1", "--dport", "5353"])
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout)
    }
}
