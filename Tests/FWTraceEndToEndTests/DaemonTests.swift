import Foundation
import XCTest

/// `fwtrace daemon` on the real kernel: watches in namespaces the tests make, sinks, the control
/// socket with real unprivileged users, reload, stop and crash.
final class DaemonTests: DaemonTestCase {
    func lab(_ name: String) throws -> TestLab { try lab(name, listen: [80, 22]) }

    func nftTables(_ namespace: String) throws -> String {
        try E2E.run(["ip", "netns", "exec", namespace, "nft", "list", "tables"]).stdout
    }

    // MARK: - watches and sinks

    func testTwoWatchesInTwoNamespacesStreamToFileAndSocketSinks() throws {
        let a = try lab("dwa"), b = try lab("dwb")
        let collected = daemon.directory + "/collected.jsonl"
        let collector = try Helper(["/usr/bin/python3", E2E.daemonPeer, "collect", daemon.directory + "/collector.sock", collected])
        try daemon.writeConfig("""
        [[sink]]
        name = "file"
        type = "file"
        path = "\(daemon.directory)/paths.jsonl"

        [[sink]]
        name = "collector"
        type = "socket"
        address = "unix:\(daemon.directory)/collector.sock"

        [[watch]]
        name = "web-a"
        netns = "\(a.server)"
        proto = "tcp"
        dport = 8080
        limit = "50"

        [[watch]]
        name = "web-b"
        netns = "\(b.server)"
        proto = "tcp"
        dport = "80"
        limit = "50"
        sinks = ["file", "collector"]
        """)
        try daemon.start()
        try daemon.waitFor("watch web-b: session")
        usleep(300_000)
        try a.send(["tcp", "10.99.0.2", "8080"])
        try b.send(["tcp", "10.99.0.2", "80"])
        for path in [daemon.directory + "/paths.jsonl", collected] {
            eventually("paths of both watches in \(path)") {
                let paths = records(in: path).filter { $0["type"] as? String == "path" }
                return Set(paths.compactMap { $0["watch"] as? String }) == ["web-a", "web-b"]
            }
            let paths = records(in: path).filter { $0["type"] as? String == "path" }
            let fromA = try XCTUnwrap(paths.first { $0["watch"] as? String == "web-a" })
            XCTAssertEqual(fromA["netns"] as? String, a.server)
            XCTAssertEqual(fromA[object: "packet"]["dport"] as? Int, 8080)
            XCTAssertEqual(fromA["verdict"] as? String, "reject")
            XCTAssertEqual(fromA[object: "decided_by"]["text"] as? String, "-A INPUT -j REJECT --reject-with icmp-host-prohibited")
            let fromB = try XCTUnwrap(paths.first { $0["watch"] as? String == "web-b" })
            XCTAssertEqual(fromB["netns"] as? String, b.server)
            XCTAssertEqual(fromB[object: "packet"]["dport"] as? Int, 80)
            XCTAssertEqual(fromB["verdict"] as? String, "accept")
            XCTAssertEqual(fromB[object: "decided_by"]["rule"] as? Int, 5)
            XCTAssertFalse(paths.contains { $0["watch"] as? String == "web-a" && $0["netns"] as? String != a.server })
            XCTAssertFalse(paths.contains { $0["watch"] as? String == "web-b" && ($0[object: "packet"]["dport"] as? Int) != 80 })
            E2E.validate(path)
        }
        let status = try daemon.status()
        XCTAssertEqual(status[array: "watches"].map { $0["name"] as? String }, ["web-a", "web-b"])
        XCTAssertEqual(status[array: "watches"].map { $0["state"] as? String }, ["running", "running"])
        XCTAssertTrue(try nftTables(a.server).contains("fwtrace_"))
        _ = collector
    }

    // MARK: - follow through the daemon

    func testFollowAsGroupMemberOutsiderRefusedConcurrentClientsSeparated() throws {
        let a = try lab("dfa")
        try daemon.writeConfig("")
        try daemon.start()

        // Two members' sessions at once, different filters: each sees only its own packets.
        let f8080 = try daemon.follow(as: DaemonHarness.member, ["--netns", a.server, "-p", "tcp", "--dport", "8080", "--count", "2", "--timeout", "15s"])
        let f80 = try daemon.follow(as: DaemonHarness.member, ["--netns", a.server, "-p", "tcp", "--dport", "80", "--count", "2", "--timeout", "15s"])
        let status = try daemon.status()
        XCTAssertEqual(status[array: "sessions"].count, 2)
        XCTAssertEqual(Set(status[array: "sessions"].compactMap { $0["user"] as? String }), [DaemonHarness.member])
        XCTAssertTrue(status[array: "sessions"].allSatisfy { !($0["rules"] as? [String] ?? []).isEmpty })
        for _ in 0..<2 {
            try a.send(["tcp", "10.99.0.2", "8080"])
            try a.send(["tcp", "10.99.0.2", "80"])
        }
        XCTAssertEqual(f8080.wait(), 0, f8080.stderr)
        XCTAssertEqual(f80.wait(), 0, f80.stderr)
        XCTAssertEqual(f8080.paths.count, 2)
        XCTAssertEqual(f80.paths.count, 2)
        XCTAssertTrue(f8080.paths.allSatisfy { $0[object: "packet"]["dport"] as? Int == 8080 && $0["verdict"] as? String == "reject" })
        XCTAssertTrue(f80.paths.allSatisfy { $0[object: "packet"]["dport"] as? Int == 80 && $0["verdict"] as? String == "accept" })
        XCTAssertEqual(f8080.records.last?["event"] as? String, "ended")
        E2E.validate(f8080.outputPath)
        XCTAssertTrue(daemon.log.contains("session") && daemon.log.contains("for \(DaemonHarness.member) (uid"), "peer logged:\n\(daemon.log)")

        // The sessions' tables are gone once their clients are done.
        eventually("client tables removed") { (try? nftTables(a.server))?.contains("fwtrace_") == false }

        // Not in the group: the socket's permissions refuse it, with what to do.
        let refused = try E2E.run(["runuser", "-u", DaemonHarness.outsider, "--", daemon.binary, "follow", "--socket", daemon.socketPath,
                                   "--netns", a.server, "--dport", "80", "--count", "1"], check: false)
        XCTAssertEqual(refused.status, 4)
        XCTAssertTrue(refused.stderr.contains("permission denied on \(daemon.socketPath)") && refused.stderr.contains("usermod -aG \(DaemonHarness.group)"), refused.stderr)
        let refusedStatus = try E2E.run(["runuser", "-u", DaemonHarness.outsider, "--", daemon.binary, "status", "--socket", daemon.socketPath], check: false)
        XCTAssertEqual(refusedStatus.status, 4)

        // No daemon on the socket and no root: follow says how to get one or the other.
        let alone = try E2E.run(["runuser", "-u", DaemonHarness.member, "--", daemon.binary, "follow", "--socket", daemon.directory + "/none.sock",
                                 "--netns", a.server, "--dport", "80", "--count", "1"], check: false)
        XCTAssertEqual(alone.status, 4, alone.stderr)
    }

    /// The daemon's text view folds plumbing as follow's own does; `--steps all` reaches it.
    func testTextViewThroughTheDaemonFoldsAndStepsAllUnfolds() throws {
        let a = try lab("dtv")
        try daemon.writeConfig("")
        try daemon.start()
        for (steps, expected) in [([String](), "⋯ 2 steps of jumps and returns where no rule acted, through 1 chain: fail2ban-SSH"),
                                  (["--steps", "all"], "input ip filter/fail2ban-SSH         end of chain, back to caller  → return")] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["runuser", "-u", DaemonHarness.member, "--", daemon.binary, "follow", "--socket", daemon.socketPath, "--format", "text",
                                 "--netns", a.server, "--dport", "22", "--count", "1", "--timeout", "15s"] + steps
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            eventually("the session started") { ((try? self.daemon.status())?[array: "sessions"].count ?? 0) == 1 }
            try a.send(["tcp", "10.99.0.2", "22"])
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, text)
            XCTAssertTrue(text.contains("  decided: ACCEPT by input ip filter/INPUT #4"), text)
            XCTAssertTrue(text.contains(expected), "\(steps): \(text)")
            eventually("the session ended") { ((try? self.daemon.status())?[array: "sessions"].count ?? 1) == 0 }
        }
    }

    /// The daemon's own check (SO_PEERCRED), behind a socket left world-writable on purpose.
    func testDaemonChecksPeerCredentialsItself() throws {
        try daemon.writeConfig("", daemon: "socket_mode = \"0666\"")
        try daemon.start()
        let refused = try E2E.run(["runuser", "-u", DaemonHarness.outsider, "--", daemon.binary, "status", "--socket", daemon.socketPath], check: false)
        XCTAssertEqual(refused.status, 4, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("\(DaemonHarness.outsider) is not in group \(DaemonHarness.group)"), refused.stderr)
        XCTAssertTrue(daemon.log.contains("refused a control connection from \(DaemonHarness.outsider) (uid"), daemon.log)
        let allowed = try E2E.run(["runuser", "-u", DaemonHarness.member, "--", daemon.binary, "status", "--socket", daemon.socketPath], check: false)
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
    }

    /// A dead collector never slows tracing: the file sink gets every record, the collector's
    /// buffer keeps the newest, and once it is back a loss record counts exactly what it missed.
    func testDeadCollectorLosesOldestAndSaysHowManyWhenBack() throws {
        let a = try lab("dsk")
        let collected = daemon.directory + "/collected.jsonl"
        try daemon.writeConfig("""
        [[sink]]
        name = "file"
        type = "file"
        path = "\(daemon.directory)/paths.jsonl"

        [[sink]]
        name = "collector"
        type = "socket"
        address = "unix:\(daemon.directory)/collector.sock"
        buffer = 16

        [[watch]]
        name = "flood"
        netns = "\(a.server)"
        proto = "udp"
        dport = 9
        limit = "20000"
        """, daemon: "max_trace_rate = 20000")
        try daemon.start()
        try daemon.waitFor("watch flood: session")
        usleep(300_000)
        for _ in 0..<3 { try a.send(["udpflood", "10.99.0.2", "9", "300"]) }
        eventually("more paths in the file sink than the collector's buffer holds") {
            records(in: daemon.directory + "/paths.jsonl").filter { $0["type"] as? String == "path" }.count > 40
        }
        usleep(500_000)
        XCTAssertTrue(daemon.log.contains("sink collector: cannot connect"), daemon.log)
        let collector = try Helper(["/usr/bin/python3", E2E.daemonPeer, "collect", daemon.directory + "/collector.sock", collected])
        eventually("the collector gets the buffered records", timeout: 20) {
            records(in: collected).contains { $0["type"] as? String == "loss" }
                && records(in: collected).filter { $0["type"] as? String != "loss" }.count >= 16
        }
        let received = records(in: collected)
        let loss = try XCTUnwrap(received.first { $0["type"] as? String == "loss" })
        XCTAssertEqual(loss["reason"] as? String, "sink")
        XCTAssertEqual(loss["sink"] as? String, "collector")
        let delivered = received.filter { $0["type"] as? String != "loss" }.count
        let written = records(in: daemon.directory + "/paths.jsonl").count
        XCTAssertEqual((loss["count"] as? Int ?? 0) + delivered, written, "lost + delivered = every record the file sink wrote")
        XCTAssertEqual(delivered, 16, "the newest records, as many as the buffer holds")
        E2E.validate(collected)
        XCTAssertEqual(try daemon.status()[array: "sinks"].first { $0["name"] as? String == "collector" }?["lost"] as? Int, loss["count"] as? Int)
        _ = collector
    }

    /// logrotate: the file sink is reopened on SIGHUP; records after it go to the new file.
    func testFileSinkIsReopenedOnSighup() throws {
        let a = try lab("drot")
        let file = daemon.directory + "/paths.jsonl"
        try daemon.writeConfig("""
        [[sink]]
        name = "file"
        type = "file"
        path = "\(file)"

        [[watch]]
        name = "web"
        netns = "\(a.server)"
        proto = "tcp"
        dport = 8080
        limit = "20"
        """)
        try daemon.start()
        try daemon.waitFor("watch web: session")
        usleep(300_000)
        try a.send(["tcp", "10.99.0.2", "8080"])
        eventually("a path in the file") { records(in: file).contains { $0["type"] as? String == "path" } }
        try FileManager.default.moveItem(atPath: file, toPath: file + ".1")
        let rotated = records(in: file + ".1").count
        daemon.signal(SIGHUP)
        try daemon.waitFor("reloaded")
        try a.send(["tcp", "10.99.0.2", "8080"])
        eventually("a path in the new file") { records(in: file).contains { $0["type"] as? String == "path" } }
        XCTAssertEqual(records(in: file + ".1").count, rotated, "nothing more in the rotated file")
    }
}
