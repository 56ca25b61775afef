import Foundation
import XCTest

/// A bridge in a namespace (two ports, a client and a server namespace behind them) filtered by
/// an nft bridge table: fwtrace marks the frames at the bridge's prerouting hook with a table
/// bridge of its own, the path shows the bridge chain's steps and verdict, and with br_netfilter
/// (net.bridge.bridge-nf-call-iptables=1 there) the inet FORWARD steps of the same frame in the
/// same record. Checked against `nft monitor trace` in the same namespace, by trace id.
final class BridgeFamilyTests: XCTestCase {
    let host = "fwt-e2e-br-h", client = "fwt-e2e-br-a", server = "fwt-e2e-br-b"

    override func setUpWithError() throws {
        try E2E.requireRoot()
        tearDown()
        for ns in [host, client, server] { try E2E.run(["ip", "netns", "add", ns]) }
        try E2E.run(["ip", "-n", host, "link", "add", "fwtbr0", "type", "bridge"])
        try E2E.run(["ip", "link", "add", "fwtbra", "netns", client, "type", "veth", "peer", "name", "fwtbrp1", "netns", host])
        try E2E.run(["ip", "link", "add", "fwtbrb", "netns", server, "type", "veth", "peer", "name", "fwtbrp2", "netns", host])
        for port in ["fwtbrp1", "fwtbrp2"] { try E2E.run(["ip", "-n", host, "link", "set", port, "master", "fwtbr0"]) }
        for dev in ["fwtbr0", "fwtbrp1", "fwtbrp2", "lo"] { try E2E.run(["ip", "-n", host, "link", "set", dev, "up"]) }
        // The bridge's own address: frames for it leave the bridge at its input hook.
        try E2E.run(["ip", "-n", host, "addr", "add", "10.97.0.254/24", "dev", "fwtbr0"])
        for (ns, dev, address) in [(client, "fwtbra", "10.97.0.1/24"), (server, "fwtbrb", "10.97.0.2/24")] {
            try E2E.run(["ip", "-n", ns, "addr", "add", address, "dev", dev])
            try E2E.run(["ip", "-n", ns, "link", "set", dev, "up"])
            try E2E.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        }
        let ruleset = """
        table bridge switch {
          chain forw {
            type filter hook forward priority filter; policy accept;
            udp dport 8080 counter drop
            udp dport 5353 counter accept
          }
          chain in {
            type filter hook input priority filter; policy accept;
            udp dport 5354 counter accept
          }
        }
        table inet filter {
          chain forward {
            type filter hook forward priority filter; policy accept;
            udp dport 5353 counter accept
          }
          chain input {
            type filter hook input priority filter; policy accept;
            udp dport 5354 counter drop
          }
        }
        """
        try E2E.applyNft(ruleset, in: host)
    }

    override func tearDown() {
        for ns in [host, client, server] { _ = try? E2E.run(["ip", "netns", "delete", ns], check: false) }
    }

    func brNetfilter(_ on: Bool) throws {
        guard FileManager.default.fileExists(atPath: "/proc/sys/net/bridge/bridge-nf-call-iptables") else {
            // Fails, never skips: the suite must run these on the kernel it is given.
            throw BrNetfilterMissing()
        }
        try E2E.run(["ip", "netns", "exec", host, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=\(on ? 1 : 0)"])
    }

    /// One UDP datagram from the client to the server's port, through the bridge (or to the
    /// bridge's host itself).
    func send(_ port: Int, to address: String = "10.97.0.2") throws {
        try E2E.run(["ip", "netns", "exec", client, "bash", "-c", "echo fwtrace > /dev/udp/\(address)/\(port)"], check: false)
    }

    /// follow in the bridge's namespace, nft monitor trace beside it: the path and what nft
    /// printed for its trace id (packet lines and fwtrace's own chains left out).
    func trace(_ port: Int, to address: String = "10.97.0.2") throws -> (path: [String: Any], nft: [String]) {
        let monitor = try NftMonitor(namespace: host)
        let f = try Follow(["--netns", host, "-p", "udp", "--dport", String(port), "--count", "1", "--timeout", "10s"])
        try send(port, to: address)
        XCTAssertEqual(f.wait(), 0, f.stderr)
        let printed = monitor.stop()
        E2E.validate(f.outputPath)
        let started = try XCTUnwrap(f.records.first { $0["event"] as? String == "started" })
        XCTAssertTrue((started["rules"] as? [String] ?? []).contains { $0.hasPrefix("bridge fwtrace_") }, "\(started)")
        let path = try XCTUnwrap(f.paths.first)
        let id = try XCTUnwrap(path["trace_id"] as? String)
        let lines = printed.lines.filter { $0.hasPrefix("trace id \(id) ") && !$0.contains(" packet: ") && !$0.contains(" fwtrace_") }
            .map { String($0.dropFirst("trace id \(id) ".count)) }
        XCTAssertFalse(try E2E.run(["ip", "netns", "exec", host, "nft", "list", "tables"]).stdout.contains("fwtrace_"))
        return (path, lines)
    }

    static func steps(_ path: [String: Any]) -> [String] {
        path[array: "path"].map { "\($0["hook"] ?? "") \($0["table_family"] ?? "") \($0["table"] ?? "") \($0["chain"] ?? "") \($0["verdict"] ?? "")" }
    }

    func testABridgeChainsDropAndAcceptWithoutBrNetfilter() throws {
        try brNetfilter(false)
        let (dropped, nftDropped) = try trace(8080)
        XCTAssertEqual(Self.steps(dropped), ["forward bridge switch forw drop"])
        XCTAssertEqual(dropped["verdict"] as? String, "drop")
        XCTAssertEqual(dropped[object: "decided_by"]["text"] as? String, "udp dport 8080 counter drop")
        XCTAssertEqual(nftDropped, ["bridge switch forw rule udp dport 8080 counter packets 0 bytes 0 drop (verdict drop)"])
        // A bridged frame is switched, not routed: no "forwarded" hint.
        XCTAssertFalse(dropped[array: "hints"].contains { $0["code"] as? String == "forwarded" })

        let (accepted, nftAccepted) = try trace(5353)
        XCTAssertEqual(Self.steps(accepted), ["forward bridge switch forw accept"])
        XCTAssertEqual(accepted["verdict"] as? String, "accept")
        XCTAssertNil(accepted["incomplete"], "the bridge's accept ends it: no IP chain sees the frame")
        XCTAssertEqual(nftAccepted, ["bridge switch forw rule udp dport 5353 counter packets 0 bytes 0 accept (verdict accept)"])
        // The kernel's counters: the drop rule took the 8080 datagram, the inet chain nothing.
        let counters = try E2E.run(["ip", "netns", "exec", host, "nft", "list", "ruleset"]).stdout
        XCTAssertTrue(counters.contains("udp dport 8080 counter packets 1 "), counters)
        XCTAssertTrue(counters.contains("inet filter") && counters.components(separatedBy: "udp dport 5353 counter packets 0 ").count == 2, counters)
    }

    func testWithBrNetfilterTheInetForwardStepsAreInTheSameRecord() throws {
        try brNetfilter(true)
        let (path, nft) = try trace(5353)
        XCTAssertEqual(Self.steps(path), ["forward bridge switch forw accept", "forward inet filter forward accept"])
        XCTAssertEqual(path[object: "decided_by"]["table"] as? String, "filter")
        XCTAssertEqual(nft, ["bridge switch forw rule udp dport 5353 counter packets 0 bytes 0 accept (verdict accept)",
                             "inet filter forward rule udp dport 5353 counter packets 0 bytes 0 accept (verdict accept)"])
    }

    /// A frame for the bridge's host: the bridge's input chain accepts it, and the bridge hands it
    /// up to the IP stack, which receives it again under another trace id (nft monitor trace shows
    /// two ids too): two records, the bridge's accept and the inet input chain's drop, each as
    /// the kernel traced it.
    func testAFrameForTheHostIsTheBridgesPathThenTheIPStacksOwn() throws {
        try brNetfilter(false)
        let monitor = try NftMonitor(namespace: host)
        let f = try Follow(["--netns", host, "-p", "udp", "--dport", "5354", "--count", "2", "--timeout", "10s"])
        try send(5354, to: "10.97.0.254")
        XCTAssertEqual(f.wait(), 0, f.stderr)
        let printed = monitor.stop()
        E2E.validate(f.outputPath)
        let paths = f.paths.sorted { Self.steps($0).first ?? "" < Self.steps($1).first ?? "" }
        XCTAssertEqual(paths.map(Self.steps), [["input bridge switch in accept"], ["input inet filter input drop"]])
        XCTAssertEqual(paths.map { $0["verdict"] as? String }, ["accept", "drop"])
        XCTAssertNil(paths.first?["incomplete"], "the bridge's accept at its input hook ends its path")
        for (path, line) in zip(paths, ["bridge switch in rule udp dport 5354 counter packets 0 bytes 0 accept (verdict accept)",
                                        "inet filter input rule udp dport 5354 counter packets 0 bytes 0 drop (verdict drop)"]) {
            let id = try XCTUnwrap(path["trace_id"] as? String)
            XCTAssertTrue(printed.lines.contains { $0 == "trace id \(id) \(line)" }, "\(id): \(printed.lines.joined(separator: "\n"))")
        }
    }

    /// The bridge table has the owner flag too: a kill -9 leaves no fwtrace table.
    func testKill9LeavesNoBridgeTable() throws {
        let before = try E2E.run(["ip", "netns", "exec", host, "nft", "list", "ruleset"]).stdout
        let f = try Follow(["--netns", host, "-p", "udp", "--dport", "5353"])
        let during = try E2E.run(["ip", "netns", "exec", host, "nft", "list", "tables"]).stdout
        XCTAssertTrue(during.contains("table bridge fwtrace_") && during.contains("table inet fwtrace_"), during)
        kill(f.process.processIdentifier, SIGKILL)
        f.wait()
        XCTAssertFalse(try E2E.run(["ip", "netns", "exec", host, "nft", "list", "tables"]).stdout.contains("fwtrace_"))
        XCTAssertEqual(try E2E.run(["ip", "netns", "exec", host, "nft", "list", "ruleset"]).stdout, before)
    }
}

/// The kernel has no br_netfilter: the bridge tests fail (they never skip).
struct BrNetfilterMissing: Error, CustomStringConvertible {
    var description: String { "br_netfilter is not loaded (modprobe br_netfilter): these tests need its per-namespace sysctls" }
}
