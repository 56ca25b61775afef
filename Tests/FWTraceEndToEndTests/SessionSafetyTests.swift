import Foundation
import XCTest

/// What an admin relies on: nothing left behind, clear refusals, exit codes scripts can trust.
final class SessionSafetyTests: XCTestCase {
    var lab: TestLab!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("safe")
        try lab.installClassicFirewall()
    }

    override func tearDown() { lab?.destroy() }

    func fwtraceTables() throws -> [String] {
        try lab.server(["nft", "list", "tables"]).stdout.split(separator: "\n").filter { $0.contains("fwtrace") }.map(String.init)
    }

    func testKill9LeavesNoTableBehind() throws {
        let f = try Follow(["--netns", lab.server, "--dport", "8080"])
        XCTAssertEqual(try fwtraceTables().count, 1)
        kill(f.process.processIdentifier, SIGKILL)
        f.wait()
        // The owner flag: the kernel deleted the table with the socket.
        XCTAssertEqual(try fwtraceTables(), [])
        XCTAssertEqual(try lab.server(["iptables-nft", "-S", "INPUT"]).stdout.split(separator: "\n").count, 9, "user rules untouched")
    }

    func testSigtermAndSighupEndTheSessionAndRemoveTheTable() throws {
        for signal in [SIGTERM, SIGHUP, SIGINT] {
            let before = try lab.server(["nft", "list", "ruleset"]).stdout
            let f = try Follow(["--netns", lab.server, "--dport", "8080"])
            XCTAssertEqual(try fwtraceTables().count, 1)
            kill(f.process.processIdentifier, signal)
            XCTAssertEqual(f.wait(), 0, f.stderr)
            XCTAssertEqual(try fwtraceTables(), [])
            XCTAssertEqual(f.records.last?["reason"] as? String, "signal")
            E2E.validate(f.outputPath)
            let after = try lab.server(["nft", "list", "ruleset"]).stdout
            XCTAssertEqual(before, after, "the user's ruleset is exactly as it was")
        }
    }

    func testTwoSessionsInOneNamespaceEachSeeOnlyTheirOwnPackets() throws {
        try lab.listen([80])
        let a = try Follow(["--netns", lab.server, "--dport", "8080", "--timeout", "3s"])
        let b = try Follow(["--netns", lab.server, "--dport", "80", "--timeout", "3s"])
        XCTAssertEqual(try fwtraceTables().count, 2)
        try lab.send(["tcp", "10.99.0.2", "8080"])
        try lab.send(["tcp", "10.99.0.2", "80"])
        XCTAssertEqual(a.wait(), 0, a.stderr)
        XCTAssertEqual(b.wait(), 0, b.stderr)
        XCTAssertFalse(a.paths.isEmpty)
        XCTAssertFalse(b.paths.isEmpty)
        XCTAssertTrue(a.paths.allSatisfy { $0[object: "packet"]["dport"] as? Int == 8080 || $0[object: "packet"]["sport"] as? Int == 8080 })
        XCTAssertTrue(b.paths.allSatisfy { $0[object: "packet"]["dport"] as? Int == 80 || $0[object: "packet"]["sport"] as? Int == 80 })
        E2E.validate(a.outputPath)
        E2E.validate(b.outputPath)
        XCTAssertEqual(try fwtraceTables(), [])
    }

    func testTimeoutWithNoMatchSaysWhatWasWatched() throws {
        let f = try Follow(["--netns", lab.server, "--dport", "9", "--timeout", "1s"])
        XCTAssertEqual(f.wait(), 3)
        XCTAssertTrue(f.stderr.contains("no packet matched"), f.stderr)
        XCTAssertTrue(f.stderr.contains("--dport 9"), f.stderr)
        XCTAssertTrue(f.stderr.contains(lab.server), f.stderr)
        let ended = try XCTUnwrap(f.records.last)
        XCTAssertEqual(ended["reason"] as? String, "timeout")
        XCTAssertEqual(ended["paths"] as? Int, 0)
        XCTAssertNotNil(ended["watched"])
        E2E.validate(f.outputPath)
    }

    func testNamespaceByPIDAndByPath() throws {
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["ip", "netns", "exec", lab.server, "sleep", "30"]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        usleep(200_000)
        for spec in [String(holder.processIdentifier), "/run/netns/\(lab.server)"] {
            let f = try Follow(["--netns", spec, "--dport", "8080", "--count", "1", "--timeout", "10s"])
            XCTAssertEqual(try fwtraceTables().count, 1, spec)
            try lab.send(["tcp", "10.99.0.2", "8080"])
            XCTAssertEqual(f.wait(), 0, f.stderr)
            XCTAssertEqual(f.paths.first?["verdict"] as? String, "reject", spec)
            XCTAssertEqual(f.paths.first?["netns"] as? String, spec)
        }
    }

    func testMissingNamespaceIsAClearError() throws {
        let r = try E2E.run([E2E.binary, "follow", "--netns", "fwt-e2e-does-not-exist", "--dport", "80"], check: false)
        XCTAssertEqual(r.status, 5)
        XCTAssertTrue(r.stderr.contains("not found"), r.stderr)
        XCTAssertTrue(r.stderr.contains("ip netns list"), r.stderr)
    }
}

final class CommandLineTests: XCTestCase {
    override func setUpWithError() throws { try E2E.requireRoot() }

    func testMalformedFiltersExitTwoWithOneLineAndAnExample() throws {
        let bad: [[String]] = [
            ["--dport", "80x"], ["--dport", "99999"], ["--dport", "2000:1000"], ["-p", "tcpx"],
            ["-s", "10.0.0.300"], ["-d", "fd00::/200"], ["-i", "eth0;rm"], ["--timeout", "soon"],
            ["--limit", "0"], ["-6", "-s", "10.0.0.1"], ["-p", "icmp", "--dport", "80"], ["-4", "-6"],
            ["--count", "0"], ["--format", "xml"], ["--no-such-option"],
        ]
        for arguments in bad {
            // A namespace that does not exist: were a case ever valid, fwtrace would stop with
            // exit 5 instead of tracing in the host's namespace.
            let r = try E2E.run([E2E.binary, "follow", "--netns", "fwt-e2e-absent", "--timeout", "1s"] + arguments, check: false)
            XCTAssertEqual(r.status, 2, "\(arguments): \(r.stderr)")
            XCTAssertFalse(r.stderr.isEmpty, "\(arguments)")
        }
        let r = try E2E.run([E2E.binary, "follow", "--netns", "fwt-e2e-absent", "--dport", "80x"], check: false)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("for example"), r.stderr)
    }

    func testUnprivilegedUserIsToldToRunAsRoot() throws {
        let r = try E2E.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                             E2E.binary, "follow", "--netns", "fwt-e2e-absent", "--timeout", "1s", "--dport", "8080"], check: false)
        XCTAssertEqual(r.status, 4, r.stderr)
        XCTAssertTrue(r.stderr.contains("CAP_NET_ADMIN"), r.stderr)
        XCTAssertTrue(r.stderr.contains("sudo fwtrace follow"), r.stderr)
    }

    func testHelpTeachesExitCodesAndExamples() throws {
        let r = try E2E.run([E2E.binary, "follow", "--help"])
        for needle in ["EXAMPLES", "--dport", "--netns", "EXIT CODES", "flags owner"] {
            XCTAssertTrue(r.stdout.contains(needle), needle)
        }
    }

    func testDemoRunsAndLeavesNothingBehind() throws {
        let r = try E2E.run([E2E.binary, "demo", "--prefix", "fwt-e2e-demo"], check: false)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("#7  -A INPUT -j REJECT --reject-with icmp-host-prohibited"), r.stdout)
        XCTAssertTrue(r.stdout.contains("#5  -A INPUT -p tcp -m state --state NEW -m tcp --dport 80 -j ACCEPT"), r.stdout)
        XCTAssertTrue(r.stdout.contains("hint [shadowed-rule] rule 8 of filter/INPUT"), r.stdout)
        XCTAssertTrue(r.stdout.contains("#7  -A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT  → accept"), "the fix, traced: \(r.stdout)")
        XCTAssertTrue(r.stdout.contains("hint [forwarded]"), r.stdout)
        XCTAssertTrue(r.stdout.contains("hint [nat-rewrite]"), r.stdout)
        XCTAssertFalse(r.stdout.contains("\u{1b}["), "no colour through a pipe")
        // Part 5 (E2E.run starts env, which cds nowhere: the demo finds the harnesses from the
        // binary's place in the checkout). ufw denies 8080, podman publishes it; ufw's FORWARD policy drops it, `ufw route allow` opens it.
        let part5 = try XCTUnwrap(r.stdout.components(separatedBy: "5. A managed firewall").last, r.stdout)
        XCTAssertTrue(part5.contains("[ 1] 8080/tcp                   DENY IN     Anywhere"), part5)
        XCTAssertTrue(part5.contains("  decided: DROP by forward ip filter/FORWARD policy"), part5)
        XCTAssertTrue(part5.contains("-j DNAT --to-destination 10.88.0.2:80  → accept  [nat 10.97.0.2:8080 ⇒ 10.88.0.2:80]"), part5)
        XCTAssertTrue(part5.contains("steps of jumps and returns where no rule acted"), "plumbing folded: \(part5)")
        XCTAssertTrue(part5.contains("client: timed out"), part5)
        XCTAssertTrue(part5.contains("$ ufw route allow proto tcp from any to 10.88.0.2 port 80"), part5)
        XCTAssertTrue(part5.contains("  decided: ACCEPT by forward ip filter/ufw-user-forward #1  -A ufw-user-forward -d 10.88.0.2/32 -p tcp -m tcp --dport 80 -j ACCEPT"), part5)
        XCTAssertTrue(part5.contains("client: connected: hello from container web"), part5)
        for ns in ["cli", "srv", "app", "ufw"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/netns/fwt-e2e-demo-\(ns)"), ns)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/etc/netns/fwt-e2e-demo-ufw"), "ufw's and podman's private /etc")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/var/tmp/fwtrace-demo/fwt-e2e-demo-ufw"), "the harnesses' state")
    }

    /// Part 5 needs the source tree's harnesses: elsewhere the demo says so before building
    /// anything, and --skip-managed runs parts 1 to 4.
    func testDemoWithoutTheSourceTreeSaysSoOrSkipsPart5() throws {
        let dir = NSTemporaryDirectory() + "fwtrace-demo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: E2E.binary, toPath: dir + "/fwtrace")
        let r = try E2E.run(["-C", "/", dir + "/fwtrace", "demo", "--prefix", "fwt-e2e-demo5"], check: false)
        XCTAssertEqual(r.status, 5, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("Tests/tools/ufw-netns.sh") && r.stderr.contains("--skip-managed"), r.stderr)
        XCTAssertFalse(r.stdout.contains("Building the lab"), "refused before building: \(r.stdout)")
        let skipped = try E2E.run(["-C", "/", dir + "/fwtrace", "demo", "--prefix", "fwt-e2e-demo5", "--skip-managed"], check: false)
        XCTAssertEqual(skipped.status, 0, skipped.stdout + skipped.stderr)
        XCTAssertTrue(skipped.stdout.contains("4. A port-forward"), skipped.stdout)
        XCTAssertFalse(skipped.stdout.contains("5. A managed firewall"), skipped.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/netns/fwt-e2e-demo5-srv"))
    }
}

/// An overflowing receive queue is reported with the kernel's own count, never a silent gap.
final class LossReportingTests: XCTestCase {
    func testOverflowIsReportedAsLossWithTheKernelsCount() throws {
        try E2E.requireRoot()
        let lab = try TestLab("loss")
        defer { lab.destroy() }
        try lab.server(["iptables-nft", "-A", "INPUT", "-p", "udp", "--dport", "9999", "-j", "DROP"])
        // A 4 KiB queue and the smallest backlog (two 256 KiB chunks, about 4,000 events) cannot
        // hold a burst of 20,000 traced datagrams (about 5 events each).
        let f = try Follow(["--netns", lab.server, "-p", "udp", "--dport", "9999", "--no-limit",
                            "--receive-buffer", "4096", "--receive-backlog", "0", "--timeout", "4s"])
        let sent = try lab.send(["udpflood", "10.99.0.2", "9999", "20000"])
        XCTAssertTrue(sent.stdout.contains("sent 20000"), sent.stdout)
        XCTAssertEqual(f.wait(), 0, f.stderr)
        E2E.validate(f.outputPath)
        let losses = f.records.filter { $0["type"] as? String == "loss" }
        XCTAssertFalse(losses.isEmpty, "an overflow must produce loss records")
        let lost = losses.compactMap { $0["count"] as? Int }.reduce(0, +)
        XCTAssertGreaterThan(lost, 0)
        XCTAssertTrue(losses.allSatisfy { ["enobufs", "kernel-drops", "unprocessed", "unrecorded-packets"].contains($0["reason"] as? String ?? "") })
        XCTAssertTrue(losses.allSatisfy { $0["unit"] as? String == ($0["reason"] as? String == "unrecorded-packets" ? "packets" : "events") }, "\(losses)")
        let complete = f.paths.filter { $0["incomplete"] == nil && $0["verdict"] as? String == "drop" }.count
        XCTAssertLessThan(complete, 20000)
        XCTAssertGreaterThan(f.paths.count, 0)
        // The kernel dropped every datagram at the rule (its counter), so no path may claim
        // anything else; a path whose steps do not show its fate is unknown.
        let counted = try lab.server(["iptables-nft", "-L", "INPUT", "1", "-v", "-x", "-n"]).stdout
        XCTAssertEqual(Int(counted.split(separator: " ").first { Int($0) != nil } ?? ""), 20000)
        for path in f.paths {
            let steps = path[array: "path"]
            let verdict = path["verdict"] as? String
            XCTAssertNotEqual(verdict, "accept", "\(path)")
            if steps.isEmpty { XCTAssertEqual(verdict, "unknown", "\(path)") }
            if verdict == "drop" { XCTAssertTrue(steps.contains { $0["verdict"] as? String == "drop" }, "\(path)") }
        }
        // Every traced packet is a path or counted as unrecorded (the trace rule's own counter):
        // the traffic ended before the session stopped, so the count is exact.
        let unrecorded = losses.filter { $0["reason"] as? String == "unrecorded-packets" }
        XCTAssertEqual(unrecorded.count, 1, "\(losses)")
        XCTAssertEqual(f.paths.count + (unrecorded.first?["count"] as? Int ?? 0), 20000, "\(losses)")
    }
}

/// Legacy leftovers whose owner is gone although its PID still answers kill(pid, 0): a session
/// killed with -9 that its parent has not reaped (a zombie), or a PID now another process's.
final class DeadOwnerTests: XCTestCase {
    var lab: TestLab!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("zomb", prefix: "fwt-abuse")
        try lab.installClassicFirewall(iptables: "iptables-legacy")
    }

    override func tearDown() { lab?.destroy() }

    func savedRaw() throws -> String { try lab.server(["iptables-legacy-save", "-t", "raw"]).stdout }
    func userRules() throws -> String {
        try lab.server(["iptables-legacy-save"]).stdout.split(separator: "\n").filter { $0.hasPrefix("-A") }.joined(separator: "\n")
    }
    func binding() throws -> String {
        try lab.server(["cat", "/proc/sys/net/netfilter/nf_log/2"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    /// Fields 3 (state) and 22 (start time) of /proc/PID/stat.
    static func stat(_ pid: Int32) -> (state: String, start: String)? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let paren = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: paren)...].split(separator: " ").map(String.init)
        return fields.count > 19 ? (fields[0], fields[19]) : nil
    }
    static func state(_ pid: Int32) -> String? { stat(pid)?.state }

    /// A python parent forks `fwtrace follow --backend legacy` and never waits for it; the test
    /// kills the child with -9, and it stays a zombie until the parent exits (release()).
    final class ZombieMaker {
        let parent = Process()
        let input = Pipe()
        let child: Int32
        let output = NSTemporaryDirectory() + "fwt-abuse-zombie-\(UUID().uuidString).jsonl"

        init(netns: String) throws {
            FileManager.default.createFile(atPath: output, contents: nil)
            parent.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            parent.arguments = ["-c", """
            import os, sys
            out = os.open("\(output)", os.O_WRONLY)
            pid = os.fork()
            if pid == 0:
                os.dup2(out, 1)
                os.execv("\(E2E.binary)", ["fwtrace", "follow", "--netns", "\(netns)", "--backend", "legacy", "--dport", "8080", "--format", "json"])
            print(pid, flush=True)
            sys.stdin.read()
            """]
            let out = Pipe()
            parent.standardOutput = out
            parent.standardInput = input
            try parent.run()
            child = Int32(String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, !((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("\"event\":\"started\"") { usleep(50_000) }
        }

        func release() {
            guard parent.isRunning else { return }
            // Unreaped while the parent runs, so the PID is still the child's (a test that failed
            // before its kill leaves no session running).
            if child > 0 { kill(child, SIGKILL) }
            try? input.fileHandleForWriting.close()
            parent.waitUntilExit()
        }

        deinit { release(); try? FileManager.default.removeItem(atPath: output) }
    }

    /// Starts a legacy session, kills it with -9 and checks it is a zombie holding leftovers.
    func zombieSession() throws -> ZombieMaker {
        let maker = try ZombieMaker(netns: lab.server)
        XCTAssertGreaterThan(maker.child, 0)
        XCTAssertTrue(try savedRaw().contains("fwtrace:"), "the session installed its TRACE rules")
        XCTAssertEqual(try binding(), "nfnetlink_log")
        kill(maker.child, SIGKILL)
        eventually("the killed session is a zombie") { Self.state(maker.child) == "Z" }
        XCTAssertEqual(kill(maker.child, 0), 0, "kill(pid, 0) calls the zombie alive")
        XCTAssertTrue(try savedRaw().contains("fwtrace:"), "the TRACE rules outlive the process")
        XCTAssertEqual(try binding(), "nfnetlink_log")
        return maker
    }

    func testLeftoversOfAZombieAreRepairedByCleanupAndByTheNextStart() throws {
        let rules = try userRules(), bound = try binding()
        XCTAssertNotEqual(bound, "nfnetlink_log")
        XCTAssertFalse(try savedRaw().contains("fwtrace:"))

        let first = try zombieSession()
        defer { first.release() }
        let cleaned = try E2E.run([E2E.binary, "cleanup", "--netns", lab.server])
        XCTAssertTrue(cleaned.stdout.contains("cleaned: iptables-legacy -t raw -A PREROUTING"), cleaned.stdout)
        XCTAssertTrue(cleaned.stdout.contains("cleaned: nf_log/2 restored to \(bound)"), cleaned.stdout)
        XCTAssertEqual(Self.state(first.child), "Z", "repaired while the zombie is still there")
        XCTAssertFalse(try savedRaw().contains("fwtrace:"), (try? savedRaw()) ?? "")
        XCTAssertEqual(try binding(), bound)
        XCTAssertEqual(try userRules(), rules, "only fwtrace's rules were removed")

        // The next legacy start repairs too, instead of calling the zombie the live owner of
        // nflog group 0 and refusing to run.
        let second = try zombieSession()
        defer { second.release() }
        let next = try Follow(["--netns", lab.server, "--backend", "legacy", "--dport", "8080", "--timeout", "1s"])
        XCTAssertEqual(next.wait(), 3, next.stderr)
        XCTAssertTrue(next.stderr.contains("removed a TRACE rule left by an earlier fwtrace"), next.stderr)
        XCTAssertTrue(next.stderr.contains("repaired the logger binding an earlier fwtrace left: nf_log/2 restored to \(bound)"), next.stderr)
        XCTAssertEqual(Self.state(second.child), "Z")
        XCTAssertFalse(try savedRaw().contains("fwtrace:"), (try? savedRaw()) ?? "")
        XCTAssertEqual(try binding(), bound)
        XCTAssertEqual(try userRules(), rules)
    }

    /// A rule or binding record whose PID now belongs to a process that started at another time
    /// is a dead session's: repaired. The same PID with its own start time, or a tag from before
    /// start times were recorded (PID alone), is kept while that process runs.
    func testAReusedPIDDoesNotKeepLeftoversAlive() throws {
        let rules = try userRules(), bound = try binding()
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/sleep")
        holder.arguments = ["60"]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        let pid = holder.processIdentifier
        let start = try XCTUnwrap(Self.stat(pid)?.start)
        let other = String((UInt64(start) ?? 0) + 1)
        func trace(_ port: Int, _ tag: String) -> [String] {
            ["-t", "raw", "-A", "PREROUTING", "-p", "tcp", "--dport", String(port), "-m", "comment", "--comment", tag, "-j", "TRACE"]
        }
        try lab.server(["iptables-legacy"] + trace(7001, "fwtrace:0000aaaa:\(pid):\(other)"))
        try lab.server(["iptables-legacy"] + trace(7002, "fwtrace:0000bbbb:\(pid):\(start)"))
        try lab.server(["iptables-legacy"] + trace(7003, "fwtrace:0000cccc:\(pid)"))
        // A binding record naming the PID with another start time, as a session would have left it.
        let inode = try lab.server(["stat", "-L", "-c", "%i", "/proc/self/ns/net"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let record = "/run/fwtrace/legacy-netns-\(inode).state"
        XCTAssertFalse(FileManager.default.fileExists(atPath: record))
        try FileManager.default.createDirectory(atPath: "/run/fwtrace", withIntermediateDirectories: true)
        try "\(pid)\nstart=\(other)\n2=\(bound)\n".write(toFile: record, atomically: false, encoding: .utf8)
        defer { unlink(record) }
        try lab.server(["sh", "-c", "echo nfnetlink_log > /proc/sys/net/netfilter/nf_log/2"])

        let cleaned = try E2E.run([E2E.binary, "cleanup", "--netns", lab.server])
        XCTAssertTrue(cleaned.stdout.contains("--dport 7001"), cleaned.stdout)
        XCTAssertTrue(cleaned.stdout.contains("cleaned: nf_log/2 restored to \(bound)"), cleaned.stdout)
        XCTAssertFalse(cleaned.stdout.contains("--dport 7002") || cleaned.stdout.contains("--dport 7003"), cleaned.stdout)
        let raw = try savedRaw()
        XCTAssertFalse(raw.contains("--dport 7001"), raw)
        XCTAssertTrue(raw.contains("--dport 7002") && raw.contains("--dport 7003"), raw)
        XCTAssertEqual(try binding(), bound)
        XCTAssertFalse(FileManager.default.fileExists(atPath: record))

        holder.terminate(); holder.waitUntilExit()
        let after = try E2E.run([E2E.binary, "cleanup", "--netns", lab.server])
        XCTAssertTrue(after.stdout.contains("--dport 7002") && after.stdout.contains("--dport 7003"), after.stdout)
        XCTAssertFalse(try savedRaw().contains("fwtrace:"))
        XCTAssertEqual(try userRules(), rules)
    }
}
