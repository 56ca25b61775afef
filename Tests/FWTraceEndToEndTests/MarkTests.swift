import Foundation
import XCTest

/// The packet mark at every step, on both backends: a connection's first packet gets mark 0x10
/// in prerouting and saves it in its conntrack entry; the later packets restore it from there;
/// input drops port 80 without the mark. On the nft backend every policy step's mark is compared
/// with what `nft monitor trace`, run at the same time, printed for the same event (nft 1.0.6
/// prints the mark on policy lines only); the rule counters say which packets carried the mark.
final class MarkTests: XCTestCase {
    var lab: TestLab!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("mark", prefix: "fwt-marks")
        try lab.listen([80])
    }

    override func tearDown() { lab?.destroy() }

    /// One TCP connection to :80 traced (all its packets: the timeout ends the session).
    func followConnection(_ backend: String) throws -> [[String: Any]] {
        let f = try Follow(["--netns", lab.server, "--backend", backend, "-p", "tcp", "--dport", "80", "--timeout", "3s"])
        XCTAssertTrue(try lab.send(["tcp", "10.99.0.2", "80"]).stdout.contains("connected"))
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        let paths = f.paths
        XCTAssertGreaterThanOrEqual(paths.count, 3, "SYN, ACK and at least one more packet of the connection")
        return paths
    }

    /// The steps of `table`, each as "chain kind mark" (mark in hex, 0 when absent).
    func marks(_ path: [String: Any], table: String) -> [String] {
        path[array: "path"].filter { $0["table"] as? String == table }.map {
            "\($0["chain"] as? String ?? "?") \($0["kind"] as? String ?? "?") 0x\(String($0["mark"] as? Int ?? 0, radix: 16))"
        }
    }

    /// The connection's first packet (the legacy backend has no conntrack data without ctnetlink).
    func isNew(_ path: [String: Any]) -> Bool { path[object: "packet"]["tcp_flags"] as? [String] == ["syn"] }

    func testNativeNftMetaMarkSetAndCtMarkRestore() throws {
        try loadNft("""
        table ip marks {
          chain pre {
            type filter hook prerouting priority mangle; policy accept;
            ct state new tcp dport 80 meta mark set 0x10
            ct state new ct mark set meta mark
            ct state established meta mark set ct mark
          }
          chain in {
            type filter hook input priority filter; policy accept;
            meta mark != 0x10 tcp dport 80 counter drop
          }
        }
        """)
        let monitor = try NftMonitor(namespace: lab.server)
        let paths = try followConnection("nft")
        let printed = monitor.stop()
        XCTAssertEqual(paths.filter(isNew).count, 1)
        for path in paths {
            // fwtrace's own chain saw the packet before any mark was set.
            XCTAssertNil(path[object: "packet"]["mark"], "\(path)")
            XCTAssertEqual(path["verdict"] as? String, "accept", "\(path)")
            // nft reports the mark after the rule ran: the rule that set it carries it.
            XCTAssertEqual(marks(path, table: "marks"), isNew(path)
                ? ["pre rule 0x10", "pre rule 0x10", "pre policy 0x10", "in policy 0x10"]
                : ["pre rule 0x10", "pre policy 0x10", "in policy 0x10"], "\(path)")
        }
        XCTAssertEqual(policyMarks(paths, tables: ["marks"]), printed.policies(tables: ["marks"]))
        // The kernel's own count: no port-80 packet reached input without the mark.
        XCTAssertTrue(try lab.server(["nft", "list", "chain", "ip", "marks", "in"]).stdout.contains("counter packets 0 bytes 0"))
    }

    func testIptablesNftMarkAndConnmarkRestore() throws {
        try installMarkRules("iptables-nft")
        let monitor = try NftMonitor(namespace: lab.server)
        let paths = try followConnection("nft")
        let printed = monitor.stop()
        for path in paths {
            XCTAssertNil(path[object: "packet"]["mark"], "\(path)")
            XCTAssertEqual(path["verdict"] as? String, "accept", "\(path)")
            XCTAssertEqual(marks(path, table: "mangle"), isNew(path)
                ? ["PREROUTING rule 0x10", "PREROUTING rule 0x10", "PREROUTING policy 0x10"]
                : ["PREROUTING rule 0x10", "PREROUTING policy 0x10"], "\(path)")
            XCTAssertEqual(marks(path, table: "filter"), ["INPUT policy 0x10"], "\(path)")
        }
        XCTAssertEqual(policyMarks(paths, tables: ["mangle", "filter"]), printed.policies(tables: ["mangle", "filter"]))
        try checkCounters("iptables-nft", paths: paths)
    }

    func testIptablesLegacyMarkAndConnmarkRestore() throws {
        try installMarkRules("iptables-legacy")
        let paths = try followConnection("legacy")
        for path in paths {
            XCTAssertNil(path[object: "packet"]["mark"], "\(path)")
            XCTAssertEqual(path["verdict"] as? String, "accept", "\(path)")
            // TRACE logs a rule before its target runs: the MARK and restore rules report the
            // mark before them, the next step the mark they set.
            XCTAssertEqual(marks(path, table: "mangle"), isNew(path)
                ? ["PREROUTING rule 0x0", "PREROUTING rule 0x10", "PREROUTING policy 0x10", "INPUT policy 0x10"]
                : ["PREROUTING rule 0x0", "PREROUTING policy 0x10", "INPUT policy 0x10"], "\(path)")
            XCTAssertEqual(marks(path, table: "filter"), ["INPUT policy 0x10"], "\(path)")
        }
        try checkCounters("iptables-legacy", paths: paths)
    }

    func loadNft(_ ruleset: String) throws {
        let file = NSTemporaryDirectory() + "fwtrace-e2e-marks-\(UUID().uuidString).nft"
        try ruleset.write(toFile: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try lab.server(["nft", "-f", file])
    }

    /// mangle PREROUTING: MARK and CONNMARK --save-mark on a connection's first packet,
    /// CONNMARK --restore-mark on the later ones; filter INPUT: a DROP for port 80 without the mark.
    func installMarkRules(_ iptables: String) throws {
        let mangle = ["-t", "mangle", "-A", "PREROUTING"]
        try lab.server([iptables] + mangle + ["-p", "tcp", "--dport", "80", "-m", "conntrack", "--ctstate", "NEW", "-j", "MARK", "--set-mark", "0x10"])
        try lab.server([iptables] + mangle + ["-m", "conntrack", "--ctstate", "NEW", "-j", "CONNMARK", "--save-mark"])
        try lab.server([iptables] + mangle + ["-m", "conntrack", "--ctstate", "ESTABLISHED", "-j", "CONNMARK", "--restore-mark"])
        try lab.server([iptables, "-A", "INPUT", "-p", "tcp", "--dport", "80", "-m", "mark", "!", "--mark", "0x10", "-j", "DROP"])
    }

    /// The kernel's counters: MARK matched the one new packet, the restore every later one, and
    /// no port-80 packet reached the DROP without the mark.
    func checkCounters(_ iptables: String, paths: [[String: Any]]) throws {
        func packets(_ arguments: [String]) throws -> [Int] {
            try lab.server([iptables, "-L"] + arguments + ["-v", "-x", "-n"]).stdout.split(separator: "\n").dropFirst(2)
                .compactMap { Int($0.split(separator: " ").first ?? "") }
        }
        let later = paths.filter { !isNew($0) }.count
        XCTAssertEqual(try packets(["PREROUTING", "-t", "mangle"]), [1, 1, later])
        XCTAssertEqual(try packets(["INPUT"]), [0])
    }

    /// fwtrace's policy steps of these tables, as "trace-id table chain mark", sorted.
    func policyMarks(_ paths: [[String: Any]], tables: Set<String>) -> [String] {
        paths.flatMap { path in
            path[array: "path"].filter { $0["kind"] as? String == "policy" && tables.contains($0["table"] as? String ?? "") }.map {
                "\(path["trace_id"] as? String ?? "?") \($0["table"] as? String ?? "?") \($0["chain"] as? String ?? "?") \($0["mark"] as? Int ?? 0)"
            }
        }.sorted()
    }
}

/// `nft monitor trace` in a namespace, its lines collected until `stop`.
final class NftMonitor {
    let process = Process()
    let outputPath = NSTemporaryDirectory() + "fwtrace-e2e-monitor-\(UUID().uuidString).txt"

    init(namespace: String) throws {
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // Line-buffered: its lines must be in the file when it is stopped.
        process.arguments = ["ip", "netns", "exec", namespace, "stdbuf", "-oL", "nft", "monitor", "trace"]
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        try process.run()
        usleep(500_000)   // subscribed before any traffic
    }

    struct Printed {
        let lines: [Substring]
        /// Policy lines of these tables, as "trace-id table chain mark", sorted: nft prints
        /// `trace id 31d92f37 ip marks pre policy accept meta mark 0x00000010`.
        func policies(tables: Set<String>) -> [String] {
            lines.compactMap { line -> String? in
                let words = line.split(separator: " ")
                guard words.count >= 8, words[0] == "trace", words[6] == "policy", tables.contains(String(words[4])) else { return nil }
                let mark = words.firstIndex(of: "mark").flatMap { words.indices.contains($0 + 1) ? UInt32(words[$0 + 1].dropFirst(2), radix: 16) : nil } ?? 0
                return "\(words[2]) \(words[4]) \(words[5]) \(mark)"
            }.sorted()
        }
    }

    func stop() -> Printed {
        usleep(300_000)
        process.terminate()   // its lines are out already (stdbuf -oL)
        process.waitUntilExit()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: outputPath)
        return Printed(lines: text.split(separator: "\n"))
    }

    deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }
}
