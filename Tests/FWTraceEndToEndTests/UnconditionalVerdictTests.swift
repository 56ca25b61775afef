import Foundation
import XCTest

/// Unconditional `-j ACCEPT|DROP|RETURN` rules, which legacy TRACE labels `policy:N`/`return:N`
/// with the rule's own number (get_chainname_rulenum, ip_tables.c): the verdict, the deciding rule
/// and its text must be what the kernel did, as its counters show, on both backends and families.
final class UnconditionalVerdictTests: XCTestCase {
    var lab: TestLab!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("uncond")
        // The counters must count the probe alone: neighbour discovery and MLD would reach INPUT
        // too. Each side knows the other's address without asking, and the server's raw table
        // keeps ICMPv6 out of INPUT (the probes are UDP; fwtrace's TRACE rule sits before this).
        for (ns, peer, address, dev, peerDev) in [(lab.client, lab.server, "fd99::2", "fwte2e0", "fwte2e1"),
                                                  (lab.server, lab.client, "fd99::1", "fwte2e1", "fwte2e0")] {
            let link = try E2E.run(["ip", "-n", peer, "-o", "link", "show", peerDev]).stdout
            let mac = try XCTUnwrap(link.range(of: #"link/ether [0-9a-f:]{17}"#, options: .regularExpression).map { String(link[$0].dropFirst(11)) })
            try E2E.run(["ip", "-n", ns, "neigh", "replace", address, "lladdr", mac, "dev", dev, "nud", "permanent"])
        }
    }

    override func tearDown() { lab?.destroy() }

    struct Case {
        let name: String
        /// Rule lines for iptables (chain created first when it is `USR`); `INPUT` policy first.
        let policy: String
        let rules: [[String]]
        let verdict: String
        let decidingChain: String
        /// The deciding rule's number; nil when the chain's policy decided.
        let decidingRule: Int?
        /// A `return` step expected on the way: (chain, rule number).
        let returnStep: (String, Int)?
    }

    static let cases: [Case] = [
        Case(name: "only rule, base chain", policy: "ACCEPT", rules: [["-A", "INPUT", "-j", "DROP"]],
             verdict: "drop", decidingChain: "INPUT", decidingRule: 1, returnStep: nil),
        Case(name: "last rule, base chain", policy: "ACCEPT",
             rules: [["-A", "INPUT", "-p", "tcp", "--dport", "53", "-j", "ACCEPT"], ["-A", "INPUT", "-j", "DROP"]],
             verdict: "drop", decidingChain: "INPUT", decidingRule: 2, returnStep: nil),
        Case(name: "followed by more rules, base chain", policy: "DROP",
             rules: [["-A", "INPUT", "-j", "ACCEPT"], ["-A", "INPUT", "-j", "DROP"]],
             verdict: "accept", decidingChain: "INPUT", decidingRule: 1, returnStep: nil),
        Case(name: "the real policy after rules", policy: "DROP",
             rules: [["-A", "INPUT", "-p", "tcp", "-j", "ACCEPT"]],
             verdict: "drop", decidingChain: "INPUT", decidingRule: nil, returnStep: nil),
        Case(name: "only rule, user chain", policy: "ACCEPT",
             rules: [["-A", "USR", "-j", "DROP"], ["-A", "INPUT", "-p", "udp", "-j", "USR"]],
             verdict: "drop", decidingChain: "USR", decidingRule: 1, returnStep: nil),
        Case(name: "RETURN as last rule, user chain", policy: "DROP",
             rules: [["-A", "USR", "-p", "tcp", "-j", "DROP"], ["-A", "USR", "-j", "RETURN"],
                     ["-A", "INPUT", "-p", "udp", "-j", "USR"], ["-A", "INPUT", "-p", "udp", "-j", "ACCEPT"]],
             verdict: "accept", decidingChain: "INPUT", decidingRule: 2, returnStep: ("USR", 2)),
        Case(name: "RETURN followed by more rules, user chain", policy: "DROP",
             rules: [["-A", "USR", "-j", "RETURN"], ["-A", "USR", "-j", "DROP"],
                     ["-A", "INPUT", "-p", "udp", "-j", "USR"], ["-A", "INPUT", "-p", "udp", "-j", "ACCEPT"]],
             verdict: "accept", decidingChain: "INPUT", decidingRule: 2, returnStep: ("USR", 1)),
        Case(name: "ACCEPT followed by more rules, user chain", policy: "DROP",
             rules: [["-A", "USR", "-j", "ACCEPT"], ["-A", "USR", "-p", "udp", "-j", "DROP"],
                     ["-A", "INPUT", "-p", "udp", "-j", "USR"]],
             verdict: "accept", decidingChain: "USR", decidingRule: 1, returnStep: nil),
    ]

    func testLegacyIPv4() throws { try runAll(backend: "legacy", iptables: "iptables-legacy", v6: false) }
    func testLegacyIPv6() throws { try runAll(backend: "legacy", iptables: "ip6tables-legacy", v6: true) }
    func testNftIPv4() throws { try runAll(backend: "nft", iptables: "iptables-nft", v6: false) }
    func testNftIPv6() throws { try runAll(backend: "nft", iptables: "ip6tables-nft", v6: true) }

    func runAll(backend: String, iptables: String, v6: Bool) throws {
        for c in Self.cases { try run(c, backend: backend, iptables: iptables, v6: v6) }
    }

    /// The packet counter of each rule of a chain, by number, and the chain's policy counter.
    func counters(_ iptables: String, _ chain: String) throws -> (rules: [Int: Int], policy: Int?) {
        var rules: [Int: Int] = [:]
        var policy: Int?
        for line in try lab.server([iptables, "-L", chain, "-v", "-x", "-n", "--line-numbers"]).stdout.split(separator: "\n") {
            let words = line.split(separator: " ")
            if line.hasPrefix("Chain "), let i = words.firstIndex(of: "(policy"), i + 2 < words.count { policy = Int(words[i + 2]) }
            if words.count > 2, let number = Int(words[0]), let packets = Int(words[1]) { rules[number] = packets }
        }
        return (rules, policy)
    }

    func run(_ c: Case, backend: String, iptables: String, v6: Bool) throws {
        let label = "\(backend) \(iptables): \(c.name)"
        try lab.server([iptables, "-F", "INPUT"])
        for flag in ["-F", "-X"] { _ = try E2E.run(["ip", "netns", "exec", lab.server, iptables, flag, "USR"], check: false) }
        if v6, try lab.server([iptables, "-t", "raw", "-S", "PREROUTING"]).stdout.split(separator: "\n").count < 2 {
            try lab.server([iptables, "-t", "raw", "-A", "PREROUTING", "-p", "ipv6-icmp", "-j", "DROP"])
        }
        try lab.server([iptables, "-P", "INPUT", c.policy])
        if c.rules.contains(where: { $0[1] == "USR" }) { try lab.server([iptables, "-N", "USR"]) }
        for rule in c.rules { try lab.server([iptables] + rule) }
        defer { _ = try? lab.server([iptables, "-P", "INPUT", "ACCEPT"]) }
        let before = try counters(iptables, c.decidingChain)

        let f = try Follow(["--netns", lab.server, "--backend", backend, v6 ? "-6" : "-4", "-p", "udp", "--dport", "5353",
                            "--count", "1", "--timeout", "10s"])
        try lab.send(["udp", v6 ? "fd99::2" : "10.99.0.2", "5353"])
        XCTAssertEqual(f.wait(), 0, "\(label): \(f.stderr)")
        E2E.validate(f.outputPath)
        let path = try XCTUnwrap(f.paths.first, "\(label): no path in \(f.output)")
        let after = try counters(iptables, c.decidingChain)

        XCTAssertEqual(path["verdict"] as? String, c.verdict, "\(label): \(path)")
        XCTAssertNil(path["incomplete"], "\(label): \(path)")
        let decided = path[object: "decided_by"]
        XCTAssertEqual(decided["chain"] as? String, c.decidingChain, "\(label): \(path)")
        if let rule = c.decidingRule {
            XCTAssertEqual(decided["kind"] as? String, "rule", label)
            XCTAssertEqual(decided["rule"] as? Int, rule, label)
            // The rule's text, as the save tool prints it, and the kernel counted this packet there.
            let saved = try lab.server(["\(iptables)-save"]).stdout
            let lines = saved.split(separator: "\n").map(String.init).filter { $0.hasPrefix("-A \(c.decidingChain) ") }
            XCTAssertEqual(decided["text"] as? String, lines[rule - 1], label)
            XCTAssertEqual((after.rules[rule] ?? 0) - (before.rules[rule] ?? 0), 1, "\(label): the kernel's counter of rule \(rule)")
        } else {
            XCTAssertEqual(decided["kind"] as? String, "policy", label)
            XCTAssertEqual((after.policy ?? 0) - (before.policy ?? 0), 1, "\(label): the kernel's policy counter")
        }
        if let (chain, rule) = c.returnStep {
            let step = path[array: "path"].first { $0["chain"] as? String == chain && $0["kind"] as? String == "return" }
            XCTAssertEqual(step?["rule"] as? Int, rule, "\(label): \(path)")
            XCTAssertEqual(step?["text"] as? String, "-A \(chain) -j RETURN", label)
        }
        let filterSteps = path[array: "path"].filter { $0["table"] as? String == "filter" }
        XCTAssertFalse(filterSteps.contains { $0["verdict"] as? String == "unknown" }, "\(label): \(path)")
    }
}
