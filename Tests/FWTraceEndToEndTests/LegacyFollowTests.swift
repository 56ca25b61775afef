import Foundation
import XCTest

/// The legacy backend: iptables-legacy TRACE through nfnetlink_log, same paths, same contract.
final class LegacyFollowTests: XCTestCase {
    var lab: TestLab!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("leg")
        try lab.installClassicFirewall(iptables: "iptables-legacy")
        try lab.listen([22, 80, 8080])
    }

    override func tearDown() { lab?.destroy() }

    func follow(_ arguments: [String], traffic: () throws -> Void) throws -> Follow {
        let f = try Follow(["--netns", lab.server, "--backend", "legacy", "--timeout", "10s"] + arguments)
        try traffic()
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        return f
    }

    func testClassicCasesMatchTheNftBackend() throws {
        let reject = try XCTUnwrap(try follow(["--dport", "8080", "--count", "1"]) { try lab.send(["tcp", "10.99.0.2", "8080"]) }.paths.first)
        XCTAssertEqual(reject["backend"] as? String, "legacy")
        XCTAssertEqual(reject["verdict"] as? String, "reject")
        XCTAssertEqual(reject[object: "decided_by"]["rule"] as? Int, 7)
        XCTAssertEqual(reject[object: "decided_by"]["text"] as? String, "-A INPUT -j REJECT --reject-with icmp-host-prohibited")

        let accept = try XCTUnwrap(try follow(["--dport", "80", "--count", "1"]) { try lab.send(["tcp", "10.99.0.2", "80"]) }.paths.first)
        XCTAssertEqual(accept["verdict"] as? String, "accept")
        XCTAssertEqual(accept[object: "decided_by"]["rule"] as? Int, 5)

        let banned = try XCTUnwrap(try follow(["--dport", "22", "-s", "10.99.0.66", "--count", "1"]) {
            try lab.send(["tcp", "10.99.0.2", "22", "--src", "10.99.0.66"])
        }.paths.first)
        let bannedSteps = banned[array: "path"].filter { $0["table"] as? String == "filter" }
        XCTAssertEqual(bannedSteps.map { $0["kind"] as? String }, ["jump", "rule"])
        XCTAssertEqual(bannedSteps[0]["target"] as? String, "fail2ban-SSH")
        XCTAssertEqual(banned["verdict"] as? String, "reject")
        XCTAssertEqual(banned[object: "decided_by"]["chain"] as? String, "fail2ban-SSH")

        let allowed = try XCTUnwrap(try follow(["--dport", "22", "-s", "10.99.0.1", "--count", "1"]) {
            try lab.send(["tcp", "10.99.0.2", "22", "--src", "10.99.0.1"])
        }.paths.first)
        let allowedSteps = allowed[array: "path"].filter { $0["table"] as? String == "filter" }
        XCTAssertEqual(allowedSteps.map { $0["kind"] as? String }, ["jump", "return", "rule"])
        XCTAssertEqual(allowedSteps[2]["rule"] as? Int, 4)
        XCTAssertEqual(allowed["verdict"] as? String, "accept")
    }

    func testEstablishedAndDNAT() throws {
        let f = try follow(["-p", "tcp", "--dport", "80", "--count", "3"]) { try lab.send(["tcp", "10.99.0.2", "80"]) }
        let later = f.paths.dropFirst()
        XCTAssertFalse(later.isEmpty)
        for path in later {
            XCTAssertEqual(path[object: "decided_by"]["rule"] as? Int, 2, "\(path)")
            XCTAssertEqual(path["verdict"] as? String, "accept")
        }

        try lab.server(["iptables-legacy", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "8081", "-j", "DNAT", "--to-destination", "10.99.0.2:80"])
        let dnat = try XCTUnwrap(try follow(["--dport", "8081", "--count", "1"]) { try lab.send(["tcp", "10.99.0.2", "8081"]) }.paths.first)
        let nat = try XCTUnwrap(dnat[array: "path"].first { $0["table"] as? String == "nat" && $0["kind"] as? String == "rule" })
        XCTAssertEqual(nat["text"] as? String, "-A PREROUTING -p tcp -m tcp --dport 8081 -j DNAT --to-destination 10.99.0.2:80")
        XCTAssertEqual(nat[object: "nat"][object: "after"]["dport"] as? Int, 80)
        XCTAssertEqual(dnat[object: "decided_by"]["rule"] as? Int, 5)
    }

    func testIPv6WithIp6tablesLegacy() throws {
        try lab.server(["ip6tables-legacy", "-A", "INPUT", "-p", "ipv6-icmp", "-j", "ACCEPT"])
        try lab.server(["ip6tables-legacy", "-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "ACCEPT"])
        try lab.server(["ip6tables-legacy", "-A", "INPUT", "-j", "REJECT"])
        let path = try XCTUnwrap(try follow(["-6", "-p", "tcp", "--dport", "80", "--count", "1"]) { try lab.send(["tcp", "fd99::2", "80"]) }.paths.first)
        XCTAssertEqual(path["family"] as? String, "ip6")
        XCTAssertEqual(path[object: "decided_by"]["rule"] as? Int, 2)
        XCTAssertEqual(path[object: "decided_by"]["text"] as? String, "-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT")
        XCTAssertEqual(path["verdict"] as? String, "accept")
    }

    func testBurstOfOneFlowYieldsExactlyOnePathPerTracedPacket() throws {
        try lab.server(["iptables-legacy", "-I", "INPUT", "1", "-p", "udp", "--dport", "9999", "-j", "DROP"])
        let f = try Follow(["--netns", lab.server, "--backend", "legacy", "-p", "udp", "--dport", "9999", "--no-limit", "--timeout", "6s"])
        let sent = try lab.send(["udpflood", "10.99.0.2", "9999", "1000"])
        XCTAssertTrue(sent.stdout.contains("sent 1000"))
        XCTAssertEqual(f.wait(), 0, f.stderr)
        // The kernel's own count of packets that reached the DROP rule.
        let listing = try lab.server(["iptables-legacy", "-L", "INPUT", "1", "-v", "-x", "-n"]).stdout
        let counted = try XCTUnwrap(Int(listing.split(separator: " ").first { Int($0) != nil } ?? ""))
        XCTAssertEqual(counted, 1000)
        let paths = f.paths
        XCTAssertTrue(f.records.filter { $0["type"] as? String == "loss" }.isEmpty, "no loss expected at this rate")
        XCTAssertEqual(paths.count, counted, "one path per traced packet, none merged, none split")
        XCTAssertTrue(paths.allSatisfy { $0["verdict"] as? String == "drop" && $0["incomplete"] == nil })
        XCTAssertTrue(paths.allSatisfy { $0[object: "decided_by"]["rule"] as? Int == 1 })
        XCTAssertEqual(Set(paths.compactMap { $0[object: "packet"]["ip_id"] as? Int }).count, 1000)
        E2E.validate(f.outputPath)
    }

    /// Every rule, user chain and non-default policy, per table (not counters, and not the empty
    /// raw table that using it leaves: a table, once used in a namespace, stays registered).
    func savedRules() throws -> String {
        var table = ""
        var lines: [String] = []
        for line in try lab.server(["iptables-legacy-save"]).stdout.split(separator: "\n") {
            if line.hasPrefix("*") { table = String(line); continue }
            if line.hasPrefix("-A") { lines.append("\(table) \(line)") }
            if line.hasPrefix(":") {
                let words = line.split(separator: " ")
                if words.count >= 2 && words[1] != "ACCEPT" { lines.append("\(table) \(words[0]) \(words[1])") }
            }
        }
        return lines.joined(separator: "\n")
    }

    func binding() throws -> String {
        try lab.server(["cat", "/proc/sys/net/netfilter/nf_log/2"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testExitRestoresBindingAndRules() throws {
        let before = try savedRules()
        let boundBefore = try binding()
        let f = try Follow(["--netns", lab.server, "--backend", "legacy", "--dport", "8080", "--timeout", "1s"])
        XCTAssertEqual(try binding(), "nfnetlink_log")
        XCTAssertNotEqual(try savedRules(), before)
        f.wait()
        XCTAssertEqual(try savedRules(), before)
        XCTAssertEqual(try binding(), boundBefore)
    }

    /// Starts a legacy session and kills it with SIGKILL; returns the rules and binding from
    /// before, after checking what the crash left behind (the TRACE rule and the binding).
    func killSessionLeavingState() throws -> (rules: String, binding: String) {
        let before = (try savedRules(), try binding())
        let f = try Follow(["--netns", lab.server, "--backend", "legacy", "--dport", "8080"])
        kill(f.process.processIdentifier, SIGKILL)
        f.wait()
        XCTAssertTrue(try savedRules().contains("fwtrace:"))
        XCTAssertEqual(try binding(), "nfnetlink_log")
        return before
    }

    func testKill9IsRepairedByTheNextStart() throws {
        let (before, boundBefore) = try killSessionLeavingState()
        let next = try Follow(["--netns", lab.server, "--backend", "legacy", "--dport", "8080", "--timeout", "1s"])
        next.wait()
        XCTAssertTrue(next.stderr.contains("removed a TRACE rule left by an earlier fwtrace"), next.stderr)
        XCTAssertEqual(try savedRules(), before, "only fwtrace's rules were removed")
        XCTAssertEqual(try binding(), boundBefore)
    }

    func testSecondSessionIsToldWhoHoldsTheGroup() throws {
        let first = try Follow(["--netns", lab.server, "--backend", "legacy", "--dport", "8080", "--timeout", "5s"])
        let second = try E2E.run([E2E.binary, "follow", "--netns", lab.server, "--backend", "legacy", "--dport", "80", "--timeout", "1s"], check: false)
        XCTAssertEqual(second.status, 5, second.stderr)
        XCTAssertTrue(second.stderr.contains("already bound"), second.stderr)
        XCTAssertTrue(second.stderr.contains("fwtrace"), second.stderr)
        first.process.terminate()
        first.wait()
    }

    func testAutoPicksLegacyWhenOnlyLegacyHasRules() throws {
        let f = try Follow(["--netns", lab.server, "--dport", "8080", "--count", "1", "--timeout", "10s"])
        try lab.send(["tcp", "10.99.0.2", "8080"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        XCTAssertEqual(f.paths.first?["backend"] as? String, "legacy")
    }
}

extension LegacyFollowTests {
    func testConntrackInvalidReasonIsAttachedAndTheSettingRestored() throws {
        try lab.server(["sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0"])
        let before = try lab.server(["cat", "/proc/sys/net/netfilter/nf_conntrack_log_invalid"]).stdout
        let f = try Follow(["--netns", lab.server, "--backend", "legacy", "--ct-invalid", "-p", "tcp", "--dport", "81", "--count", "1", "--timeout", "10s"])
        XCTAssertEqual(try lab.server(["cat", "/proc/sys/net/netfilter/nf_conntrack_log_invalid"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines), "255")
        try lab.send(["tcpsynfin", "10.99.0.2", "81", "--src", "10.99.0.1"])
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        let path = try XCTUnwrap(f.paths.first, f.output)
        XCTAssertEqual(path[object: "conntrack"]["state"] as? String, "invalid")
        XCTAssertEqual(path[object: "conntrack"]["reason"] as? String, "invalid tcp flag combination")
        XCTAssertEqual(try lab.server(["cat", "/proc/sys/net/netfilter/nf_conntrack_log_invalid"]).stdout, before)
    }
}

extension LegacyFollowTests {
    func testCleanupCommandRepairsAKilledSession() throws {
        let (before, boundBefore) = try killSessionLeavingState()
        let cleaned = try E2E.run([E2E.binary, "cleanup", "--netns", lab.server])
        XCTAssertTrue(cleaned.stdout.contains("cleaned:"), cleaned.stdout)
        XCTAssertEqual(try savedRules(), before)
        XCTAssertEqual(try binding(), boundBefore)
        let again = try E2E.run([E2E.binary, "cleanup", "--netns", lab.server])
        XCTAssertTrue(again.stdout.contains("nothing to clean up"), again.stdout)
    }
}
