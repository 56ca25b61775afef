import Foundation
import XCTest

/// What a hostile or broken client can do to the control socket: each case gets a clear error or
/// is cut off, and the daemon and its other sessions keep running.
final class DaemonAbuseTests: XCTestCase {
    var lab: TestLab!
    var daemon: DaemonHarness!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("dab")
        try lab.installClassicFirewall()
        daemon = try DaemonHarness()
        try daemon.writeConfig("""
        [[sink]]
        name = "file"
        type = "file"
        path = "\(daemon.directory)/paths.jsonl"

        [[watch]]
        name = "steady"
        netns = "\(lab.server)"
        proto = "tcp"
        dport = 8080
        limit = "50"
        """, daemon: "max_sessions = 3\nclient_buffer = 16\nclient_stall_timeout = \"2s\"\nrequest_timeout = \"2s\"")
        try daemon.start()
        try daemon.waitFor("watch steady: session")
    }

    override func tearDown() {
        daemon?.stop()
        daemon = nil
        lab?.destroy()
    }

    override class func tearDown() { DaemonHarness.removeAccounts() }

    func errorCode(_ output: String) -> String? {
        let first = output.split(separator: "\n").first.map(String.init) ?? ""
        let object = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any]
        return object?["type"] as? String == "error" ? object?["code"] as? String : nil
    }

    /// The daemon still answers and its watch still traces.
    func assertStillServing(_ label: String) throws {
        XCTAssertTrue(daemon.process?.isRunning == true, "daemon died after \(label):\n\(daemon.log)")
        XCTAssertEqual(try daemon.status()[array: "watches"].first?["state"] as? String, "running", label)
        let before = records(in: daemon.directory + "/paths.jsonl").filter { $0["type"] as? String == "path" }.count
        try lab.send(["tcp", "10.99.0.2", "8080"])
        eventually("the watch still traces after \(label)") {
            records(in: daemon.directory + "/paths.jsonl").filter { $0["type"] as? String == "path" }.count > before
        }
    }

    func testMalformedRequestsGetClearErrors() throws {
        var out = try daemon.request(["--size", "70000"])
        XCTAssertEqual(errorCode(out), "too-large", out)
        out = try daemon.request(["{\"op\": \"follow\", "])
        XCTAssertEqual(errorCode(out), "invalid-json", out)
        out = try daemon.request(["{\"op\":\"reboot\"}"])
        XCTAssertEqual(errorCode(out), "unknown-operation", out)
        XCTAssertTrue(out.contains("unknown operation 'reboot': follow or status"), out)
        out = try daemon.request(["{\"op\":\"follow\",\"filter\":{\"dport\":\"99999\"}}"])
        XCTAssertEqual(errorCode(out), "bad-filter", out)
        XCTAssertTrue(out.contains("invalid port"), out)
        out = try daemon.request(["{\"op\":\"follow\",\"netns\":\"/proc/1/ns/net\"}"])
        XCTAssertEqual(errorCode(out), "bad-request", out)
        out = try daemon.request(["{\"op\":\"follow\",\"netns\":\"fwt-e2e-absent\"}"])
        XCTAssertEqual(errorCode(out), "unavailable", out)
        XCTAssertTrue(out.contains("\"exit\":5"), out)
        // Connects and says nothing: cut off after request_timeout.
        let silent = try E2E.run(["/usr/bin/python3", "-c", """
        import socket, time
        s = socket.socket(socket.AF_UNIX); s.connect("\(daemon.socketPath)"); s.settimeout(10)
        print(s.recv(4096).decode())
        """])
        XCTAssertEqual(errorCode(silent.stdout), "request-timeout", silent.stdout)
        try assertStillServing("malformed requests")
    }

    func testTooManySessionsAndTooMuchRateAreRefused() throws {
        // One watch + two clients = max_sessions 3.
        let one = try daemon.follow(as: DaemonHarness.member, ["--netns", lab.server, "--dport", "80", "--timeout", "20s"])
        let two = try daemon.follow(as: DaemonHarness.member, ["--netns", lab.server, "--dport", "22", "--timeout", "20s"])
        let third = try E2E.run(["runuser", "-u", DaemonHarness.member, "--", daemon.binary, "follow", "--socket", daemon.socketPath,
                                 "--netns", lab.server, "--dport", "443", "--count", "1"], check: false)
        XCTAssertEqual(third.status, 5, third.stderr)
        XCTAssertTrue(third.stderr.contains("max_sessions = 3"), third.stderr)
        one.process.terminate(); two.process.terminate()
        one.wait(); two.wait()
        eventually("the clients' sessions ended") { ((try? daemon.status()) ?? [:])[array: "sessions"].isEmpty }
        let greedy = try E2E.run(["runuser", "-u", DaemonHarness.member, "--", daemon.binary, "follow", "--socket", daemon.socketPath,
                                  "--netns", lab.server, "--dport", "443", "--limit", "5000", "--count", "1"], check: false)
        XCTAssertEqual(greedy.status, 5, greedy.stderr)
        XCTAssertTrue(greedy.stderr.contains("over max_trace_rate = 1000"), greedy.stderr)
        try assertStillServing("refused sessions")
    }

    func testClientThatNeverReadsIsCutOff() throws {
        let request = "{\"op\":\"follow\",\"netns\":\"\(lab.server)\",\"filter\":{\"proto\":\"udp\",\"dport\":\"9\"},\"limit\":\"900\"}"
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        reader.arguments = [E2E.daemonPeer, "request", daemon.socketPath, request, "--no-read", "8"]
        let out = Pipe()
        reader.standardOutput = out
        try reader.run()
        eventually("the client's session started") { ((try? daemon.status()) ?? [:])[array: "sessions"].count == 1 }
        // Far more records than the client's buffers hold: the limit (900/s) lets about 900
        // paths a second through while the flood lasts (a second or more), ~1 KiB each.
        for _ in 0..<3 { try lab.send(["udpflood", "10.99.0.2", "9", "40000"]) }
        try daemon.waitFor("cut off", timeout: 15)
        reader.waitUntilExit()
        XCTAssertEqual(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "closed-by-daemon")
        eventually("its session is gone") { ((try? daemon.status()) ?? [:])[array: "sessions"].isEmpty }
        eventually("its table is gone") {
            let tables = (try? E2E.run(["ip", "netns", "exec", lab.server, "nft", "list", "tables"]).stdout) ?? ""
            return tables.components(separatedBy: "fwtrace_").count - 1 == 1   // only the watch's
        }
        try assertStillServing("a client that never reads")
    }

    /// Idle connections cannot pile up threads: past the cap they are turned away at once.
    func testConnectionFloodIsCappedAndDrains() throws {
        let flood = try E2E.run(["/usr/bin/python3", "-c", """
        import socket, time
        held = []
        for i in range(80):
            s = socket.socket(socket.AF_UNIX); s.connect("\(daemon.socketPath)"); held.append(s)
        time.sleep(0.5)
        refused = 0
        for s in held:
            s.setblocking(False)
            try:
                if b"too-many-connections" in s.recv(4096): refused += 1
            except BlockingIOError:
                pass
        print(refused)
        """])
        XCTAssertEqual(Int(flood.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), 80 - 64, flood.stdout)
        XCTAssertTrue(daemon.log.contains("refused a control connection from uid 0: 64 already open"), daemon.log)
        // The idle ones are cut off after request_timeout (2 s here); then the daemon answers again.
        eventually("the daemon answers again", timeout: 15) {
            (try? E2E.run([daemon.binary, "status", "--socket", daemon.socketPath], check: false))?.status == 0
        }
        try assertStillServing("a connection flood")
    }

    /// Sessions come and go without leaving descriptors behind (each has eventfds, sockets and a
    /// thread), and an unprivileged client may not name a namespace by PID.
    func testSessionsLeaveNoDescriptorsAndPidNamespacesAreRootOnly() throws {
        let pid = try XCTUnwrap(daemon.process?.processIdentifier)
        func descriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count ?? -1 }
        // One session first, so that lazily opened descriptors (sockets, libraries) are counted.
        _ = try E2E.run(["runuser", "-u", DaemonHarness.member, "--", daemon.binary, "follow", "--socket", daemon.socketPath,
                         "--netns", lab.server, "--dport", "443", "--timeout", "300ms"], check: false)
        eventually("the first session ended") { ((try? daemon.status()) ?? [:])[array: "sessions"].isEmpty }
        let before = descriptors()
        for _ in 0..<6 {
            let r = try E2E.run(["runuser", "-u", DaemonHarness.member, "--", daemon.binary, "follow", "--socket", daemon.socketPath,
                                 "--netns", lab.server, "--dport", "443", "--timeout", "300ms"], check: false)
            XCTAssertEqual(r.status, 3, r.stderr)
        }
        eventually("the sessions ended") { ((try? daemon.status()) ?? [:])[array: "sessions"].isEmpty }
        eventually("descriptors back to \(before), now \(descriptors())", timeout: 5) { descriptors() <= before }

        let serverPID = try XCTUnwrap(Int32(try lab.server(["sh", "-c", "sleep 5 & echo $!"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let byPID = try E2E.run(["runuser", "-u", DaemonHarness.member, "--", daemon.binary, "follow", "--socket", daemon.socketPath,
                                 "--netns", String(serverPID), "--dport", "443", "--count", "1"], check: false)
        XCTAssertEqual(byPID.status, 2, byPID.stderr)
        XCTAssertTrue(byPID.stderr.contains("only root may name a namespace by PID"), byPID.stderr)
        try assertStillServing("PID namespaces and many sessions")
    }
}

/// What one group member can do to the daemon's log and to the other members: no lab, only the
/// control socket.
final class DaemonMemberAbuseTests: DaemonTestCase {
    /// Hostile strings in every field a request has, sent by a member: each request is one log
    /// line, at the daemon's own priority, with the client's bytes escaped and bounded.
    func testHostileRequestsAreOneEscapedLogLineEach() throws {
        try daemon.writeConfig("", daemon: "request_timeout = \"5s\"")
        daemon.stderrIsJournal = true   // with the journal's <N> prefixes, which a forged line would imitate
        try daemon.start()
        let before = daemon.log.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        // Python bytes literals: JSON escapes (\\n) reach the daemon's strings decoded; raw bytes
        // (invalid UTF-8, a raw CR or NUL) make invalid JSON, refused too.
        let payloads = [
            #"b'{"op":"x\\n<2>fwtrace: FORGED-1"}'"#,
            #"b'{"op":"follow","backend":"x\\r\\n<0>fwtrace: FORGED-2"}'"#,
            #"b'{"op":"follow","timeout":"\\u001b[2J\\u001b]0;FORGED-3\\u0007"}'"#,
            #"b'{"op":"follow","filter":{"dport":"80\\u0000\\n<3>fwtrace: FORGED-4"}}'"#,
            #"b'{"op":"status","\\n<1>fwtrace: FORGED-5":1}'"#,
            #"b'{"op":"follow","netns":"a\\u2028<2>fwtrace: FORGED-6\\u0085\\u202e"}'"#,
            #"b'{"op":"follow","limit":"5\\n<2>fwtrace: FORGED-7"}'"#,
            #"b'{"op":"follow","filter":{"in_interface":"\\u001b[31meth0\\r<2>fwtrace: FORGED-8"}}'"#,
            #"b'{"op":"follow","filter":{"src":"\\n<2>fwtrace: FORGED-9"},"view":"text"}'"#,
            #"b'{"op":"\xff\xfe\\n<2>fwtrace: FORGED-10"}'"#,
            #"b'{"op":"\\ud800\\n<2>fwtrace: FORGED-11"}'"#,
            #"b'{"op":"x\r<2>fwtrace: FORGED-12\x00"}'"#,
            #"b'{"op":"\\n<2>fwtrace: FORGED-13 ' + b'A' * 60000 + b'"}'"#,
            #"b'{"op":"e' + '\u0301'.encode() * 20000 + b'\\n<2>fwtrace: FORGED-14"}'"#,
            #"b'{"op":"follow","\\n<2>fwtrace: FORGED-15' + b'B' * 60000 + b'":1}'"#,
        ]
        let client = try E2E.run(["runuser", "-u", DaemonHarness.member, "--", "/usr/bin/python3", "-c", """
        import socket, json
        codes = []
        for payload in [\(payloads.joined(separator: ", "))]:
            s = socket.socket(socket.AF_UNIX); s.connect("\(daemon.socketPath)"); s.settimeout(10)
            s.sendall(payload + b"\\n")
            answer = b""
            while True:
                data = s.recv(65536)
                if not data: break
                answer += data
            s.close()
            codes.append(json.loads(answer.split(b"\\n")[0]).get("code"))
        print(json.dumps(codes))
        """])
        let codes = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(client.stdout.utf8)) as? [Any])
        XCTAssertEqual(codes.count, payloads.count, client.stdout + client.stderr)
        XCTAssertFalse(codes.contains { !($0 is String) }, "every hostile request got an error: \(client.stdout)")

        // Every request is logged before its answer is sent.
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: daemon.stderrPath))
        let text = try XCTUnwrap(String(data: bytes, encoding: .utf8), "the log is UTF-8")
        XCTAssertFalse(bytes.contains { ($0 < 0x20 && $0 != 0x0a) || $0 == 0x7f }, "no control byte but newlines in the log")
        for forbidden in ["\u{2028}", "\u{85}", "\u{202e}", "\u{1b}"] { XCTAssertFalse(text.contains(forbidden), forbidden.debugDescription) }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        for line in lines {
            XCTAssertNotNil(line.range(of: #"^<[0-7]>fwtrace: "#, options: .regularExpression), "a line the daemon did not write: \(line.debugDescription)")
            XCTAssertFalse(line.contains("fwtrace: FORGED") && !line.hasPrefix("<4>fwtrace: "), line)
            XCTAssertLessThan(line.utf8.count, 4096 + 200, "a bounded line")
        }
        let new = Array(lines.dropFirst(before))
        XCTAssertEqual(new.count, payloads.count, "one line per request:\n\(new.joined(separator: "\n"))")
        XCTAssertTrue(new.allSatisfy { $0.hasPrefix("<4>fwtrace: control request from \(DaemonHarness.member) (uid ") || $0.hasPrefix("<4>fwtrace: follow from \(DaemonHarness.member) (uid ") }, new.joined(separator: "\n"))
        // The markers the daemon quoted back are there, escaped, once each.
        for (n, escaped) in [(1, #"x\n<2>fwtrace: FORGED-1"#), (2, #"x\r\n<0>fwtrace: FORGED-2"#), (3, #"\x1b[2J\x1b]0;FORGED-3\x07"#),
                             (4, #"80\x00\n<3>fwtrace: FORGED-4"#), (5, #"\n<1>fwtrace: FORGED-5"#), (6, #"a\u{2028}<2>fwtrace: FORGED-6\u{85}\u{202e}"#),
                             (7, #"5\n<2>fwtrace: FORGED-7"#), (8, #"\x1b[31meth0\r<2>fwtrace: FORGED-8"#), (9, #"\n<2>fwtrace: FORGED-9"#)] {
            XCTAssertEqual(new.filter { $0.contains(escaped) }.count, 1, "FORGED-\(n) quoted escaped, once:\n\(new.joined(separator: "\n"))")
        }
        try assertStatusWorks()
    }

    /// One member's idle connections take at most max_connections_per_user slots, and all
    /// members' together leave root its reserve: the others' `status` still works, root's always.
    func testOneMemberCannotLockOutTheOthersNorRoot() throws {
        try daemon.writeConfig("", daemon: "request_timeout = \"60s\"\nmax_connections_per_user = 4")
        try daemon.start()
        let gid = try XCTUnwrap(E2E.run(["getent", "group", DaemonHarness.group]).stdout.split(separator: ":").dropFirst(2).first.flatMap { Int($0) })
        // A member (uid 64201, the socket group as its primary group) opens 6 idle connections.
        let flood = try ConnectionHolder(daemon.socketPath, ["64201:\(gid):6"])
        defer { flood.release() }
        XCTAssertEqual(flood.open, 4, "\(flood.refused)")
        XCTAssertEqual(flood.refused.count, 2)
        for message in flood.refused {
            XCTAssertTrue(message.contains("uid 64201 already has 4 control connections open to the daemon (max_connections_per_user = 4)"), message)
        }
        XCTAssertTrue(daemon.log.contains("refused a control connection from uid 64201: uid 64201 already has 4 open (max_connections_per_user = 4)"), daemon.log)
        let other = try memberStatus()
        XCTAssertEqual(other.status, 0, "another member's status: \(other.stderr)")
        try assertStatusWorks()

        // 13 more members with 4 each: the 56 slots for users other than root are taken.
        let crowd = try ConnectionHolder(daemon.socketPath, (2...14).map { "\(64200 + $0):\(gid):4" } + ["64215:\(gid):1"])
        defer { crowd.release() }
        XCTAssertEqual(crowd.open, 52, "\(crowd.refused)")
        XCTAssertEqual(crowd.refused.count, 1)
        XCTAssertTrue(crowd.refused.first?.contains("the last 8 of 64 are kept for root") == true, "\(crowd.refused)")
        let blocked = try memberStatus()
        XCTAssertEqual(blocked.status, 5, blocked.stderr)
        XCTAssertTrue(blocked.stderr.contains("from users other than root") && blocked.stderr.contains("kept for root"), blocked.stderr)
        // Root: its reserve is whole (7 held, and status is the 64th connection).
        let root = try ConnectionHolder(daemon.socketPath, ["0:0:7"])
        defer { root.release() }
        XCTAssertEqual(root.open, 7, "\(root.refused)")
        try assertStatusWorks()

        flood.release(); crowd.release(); root.release()
        eventually("members are served again once the idle connections closed") { (try? memberStatus())?.status == 0 }
        XCTAssertTrue(daemon.process?.isRunning == true, daemon.log)
    }

    func memberStatus() throws -> E2E.Result {
        try E2E.run(["runuser", "-u", DaemonHarness.member, "--", daemon.binary, "status", "--socket", daemon.socketPath], check: false)
    }

    func assertStatusWorks(file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertTrue(daemon.process?.isRunning == true, "daemon died:\n\(daemon.log)", file: file, line: line)
        XCTAssertEqual(try daemon.status()["type"] as? String, "status", file: file, line: line)
    }
}

/// Idle control connections opened as other users (daemon_peer.py hold), kept until released.
final class ConnectionHolder {
    let process = Process()
    private let input = Pipe()
    let open: Int
    let refused: [String]

    /// `specs`: "UID:GID:COUNT" each.
    init(_ socket: String, _ specs: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [E2E.daemonPeer, "hold", socket] + specs
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        var line = Data()
        while !line.contains(0x0a) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: line) as? [String: Any], String(decoding: line, as: UTF8.self))
        open = report["open"] as? Int ?? -1
        refused = report["refused"] as? [String] ?? []
    }

    /// Closes the connections (the helper exits when its stdin closes).
    func release() {
        guard process.isRunning else { return }
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit { release() }
}
