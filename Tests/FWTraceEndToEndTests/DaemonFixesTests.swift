import Foundation
import XCTest

/// Issue 12 item 7, against a real daemon: a follow client is told when the daemon stops (exit 6,
/// one line), the file sink's files are 0640 root:<socket_group> outside systemd, status shows
/// the sinks each watch really uses, and log lines carry `<N>` prefixes only when stderr is the
/// journal. Namespaces fwt-help-*.
final class DaemonFixesTests: DaemonTestCase {
    var namespaces: [String] = []

    func namespace(_ name: String) throws -> String {
        let ns = "fwt-help-\(name)"
        _ = try? E2E.run(["ip", "netns", "delete", ns], check: false)
        try E2E.run(["ip", "netns", "add", ns])
        namespaces.append(ns)
        return ns
    }

    override func tearDown() {
        super.tearDown()
        for ns in namespaces { _ = try? E2E.run(["ip", "netns", "delete", ns], check: false) }
        namespaces.removeAll()
    }

    func stderrLines(_ follow: Follow) -> [String] { follow.stderr.split(separator: "\n").map(String.init) }

    func testAFollowClientIsToldWhenTheDaemonStops() throws {
        let ns = try namespace("stop")
        try daemon.writeConfig("")
        try daemon.start()
        // SIGTERM: the daemon ends the session and says so; the client exits 6 with one line.
        let follow = try daemon.follow(as: DaemonHarness.member, ["--netns", ns, "-p", "tcp", "--dport", "80"])
        XCTAssertEqual(daemon.stop(), 0, daemon.log)
        XCTAssertEqual(follow.wait(), 6, follow.stderr)
        XCTAssertEqual(stderrLines(follow), ["fwtrace: the fwtrace daemon stopped, ending this session (its rules are removed): trace again once it is back (systemctl start fwtrace), or as root with --standalone"])
        XCTAssertTrue(follow.records.contains { $0["type"] as? String == "session" && $0["event"] as? String == "ended" }, follow.output)

        // kill -9: no end line, the connection just closes; told too, with the same code.
        try daemon.start()
        let killed = try daemon.follow(as: DaemonHarness.member, ["--netns", ns, "-p", "tcp", "--dport", "80"])
        daemon.kill9()
        XCTAssertEqual(killed.wait(), 6, killed.stderr)
        XCTAssertEqual(stderrLines(killed), ["fwtrace: the fwtrace daemon at \(daemon.socketPath) closed the connection before the session ended (it stopped or was killed): trace again once it is back (systemctl start fwtrace), or as root with --standalone"])

        // A session that ends on its own still exits 0 (--count) or 3 (--timeout, nothing seen).
        try daemon.start()
        let timeout = try daemon.follow(as: DaemonHarness.member, ["--netns", ns, "-p", "tcp", "--dport", "80", "--timeout", "300ms"])
        XCTAssertEqual(timeout.wait(), 3, timeout.stderr)
    }

    func testTheFileSinkFileBelongsToTheSocketGroupAndItsMembersReadIt() throws {
        let ns = try namespace("file")
        let path = daemon.directory + "/paths.jsonl"
        try daemon.writeConfig("""
        [[sink]]
        name = "paths"
        type = "file"
        path = "\(path)"

        [[watch]]
        name = "w"
        netns = "\(ns)"
        proto = "tcp"
        dport = 80
        """)
        try daemon.start()
        func check(_ when: String) throws {
            eventually("\(path) written (\(when))") { records(in: path).contains { $0["type"] as? String == "session" } }
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o640, when)
            XCTAssertEqual(attributes[.ownerAccountName] as? String, "root", when)
            XCTAssertEqual(attributes[.groupOwnerAccountName] as? String, DaemonHarness.group, when)
            let member = try E2E.run(["runuser", "-u", DaemonHarness.member, "--", "head", "-c", "1", path], check: false)
            XCTAssertEqual(member.status, 0, "a member of \(DaemonHarness.group) reads \(path) (\(when)): \(member.stderr)")
            let outsider = try E2E.run(["runuser", "-u", DaemonHarness.outsider, "--", "head", "-c", "1", path], check: false)
            XCTAssertNotEqual(outsider.status, 0, "someone outside the group does not (\(when))")
        }
        try check("at the start")
        // logrotate moves the file and sends SIGHUP: the new file is the group's too.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        daemon.signal(SIGHUP)
        try daemon.waitFor("reloaded")
        // Something to write: the watch's session is untouched by a reload, so restart it by a change.
        try daemon.writeConfig("""
        [[sink]]
        name = "paths"
        type = "file"
        path = "\(path)"

        [[watch]]
        name = "w"
        netns = "\(ns)"
        proto = "tcp"
        dport = 81
        """)
        daemon.signal(SIGHUP)
        try daemon.waitFor("reloaded", count: 2)
        try check("after logrotate's move and SIGHUP")

        // A file that exists keeps the owner and mode it has (the admin's, or logrotate's create).
        daemon.stop()
        try FileManager.default.removeItem(atPath: path)
        FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        try daemon.start()
        eventually("\(path) written") { records(in: path).contains { $0["type"] as? String == "session" } }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertEqual(attributes[.groupOwnerAccountName] as? String, "root")
    }

    func testStatusShowsTheSinksEachWatchReallyUses() throws {
        let ns = try namespace("sinks")
        try daemon.writeConfig("""
        [[sink]]
        name = "b-file"
        type = "file"
        path = "\(daemon.directory)/b.jsonl"

        [[sink]]
        name = "a-file"
        type = "file"
        path = "\(daemon.directory)/a.jsonl"

        [[watch]]
        name = "every-sink"
        netns = "\(ns)"
        proto = "tcp"
        dport = 80

        [[watch]]
        name = "one-sink"
        netns = "\(ns)"
        proto = "tcp"
        dport = 81
        sinks = ["b-file"]
        """)
        try daemon.start()
        try daemon.waitFor("watch one-sink: session")
        let watches = try daemon.status()[array: "watches"]
        XCTAssertEqual(watches.map { $0["name"] as? String }, ["every-sink", "one-sink"])
        XCTAssertEqual(watches.map { $0["sinks"] as? [String] ?? [] }, [["a-file", "b-file"], ["b-file"]])
        // What status says is where records go: the started records of both watches in b, one in a.
        eventually("started records in both files") {
            records(in: self.daemon.directory + "/b.jsonl").filter { $0["event"] as? String == "started" }.count == 2
                && records(in: self.daemon.directory + "/a.jsonl").filter { $0["event"] as? String == "started" }.count == 1
        }
        XCTAssertEqual(records(in: daemon.directory + "/a.jsonl").compactMap { $0["watch"] as? String }, ["every-sink"])
        let text = try E2E.run([daemon.binary, "status", "--socket", daemon.socketPath]).stdout
        XCTAssertTrue(text.contains("  every-sink [running] session "), text)
        XCTAssertTrue(text.contains("    sinks: a-file, b-file\n"), text)
        XCTAssertTrue(text.contains("    sinks: b-file\n"), text)
    }

    func testLogLinesArePlainUnlessStderrIsTheJournal() throws {
        try daemon.writeConfig("")
        // stderr a file, JOURNAL_STREAM absent, or naming another stream (inherited by a child of
        // a service, say): plain lines.
        for journalStream in [nil, "1:2"] {
            daemon.environment = journalStream.map { ["JOURNAL_STREAM": $0] } ?? [:]
            try daemon.start()
            daemon.stop()
            let lines = daemon.log.split(separator: "\n")
            XCTAssertTrue(lines.contains { $0.hasPrefix("fwtrace: ready: ") }, daemon.log)
            XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("fwtrace: ") }, "JOURNAL_STREAM=\(journalStream ?? "unset"):\n\(daemon.log)")
        }
        // stderr is the journal's stream: every line with its priority.
        daemon.environment = [:]
        daemon.stderrIsJournal = true
        try daemon.start()
        daemon.stop()
        let lines = daemon.log.split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.hasPrefix("<6>fwtrace: ready: ") }, daemon.log)
        XCTAssertTrue(lines.allSatisfy { $0.range(of: #"^<[0-7]>fwtrace: "#, options: .regularExpression) != nil }, daemon.log)
    }
}
