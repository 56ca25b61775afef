import Foundation
import XCTest

/// The daemon as operators run it: the shipped unit verified and run under a real systemd (PID 1
/// of a throwaway container) with the real daemon, and a real collector (rsyslog with
/// mmjsonparse) fed by the daemon's socket sink.
final class DaemonOperationsTests: XCTestCase {
    var lab: TestLab?
    var daemon: DaemonHarness?

    override func setUpWithError() throws { try E2E.requireRoot() }

    override func tearDown() {
        daemon?.stop()
        daemon = nil
        lab?.destroy()
    }

    override class func tearDown() { DaemonHarness.removeAccounts() }

    static let tools = E2E.packageRoot.appendingPathComponent("Tests/tools").path

    func temporaryDirectory() throws -> String {
        let path = "/tmp/fwt-e2e-ops-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testUnitPassesSystemdAnalyzeVerifyAndSecurity() throws {
        let r = try E2E.run([Self.tools + "/verify-unit.sh", E2E.binary], check: false)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("verify: ok"), r.stdout)
        XCTAssertTrue(r.stdout.contains("exposure:"), r.stdout)
    }

    /// The unit as shipped, under systemd 252 as PID 1, around the real daemon: READY=1, status
    /// on the control socket, metrics on loopback, paths in the journal with their fields (journalctl FWTRACE_…)
    /// and in the file sink, reload, clean stop, no table left, host untouched.
    func testRealDaemonUnderTheShippedUnit() throws {
        let dir = try temporaryDirectory()
        try """
        [metrics]
        listen = "tcp:127.0.0.1:9469"

        [[sink]]
        name = "journal"
        type = "journald"

        [[sink]]
        name = "paths"
        type = "file"
        path = "/var/log/fwtrace/paths.jsonl"

        [[watch]]
        name = "icmp-t1"
        netns = "t1"
        proto = "icmp"
        limit = "10"
        """.write(toFile: dir + "/fwtrace.toml", atomically: false, encoding: .utf8)
        let r = try E2E.run([Self.tools + "/unit-container.sh", "daemon", E2E.binary, dir + "/fwtrace.toml", dir + "/results"], check: false)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("journald sink: accepted paths with fields"), r.stdout)
        XCTAssertTrue(r.stdout.hasSuffix("0 failed\n"), r.stdout)
    }

    /// The sandbox itself, probed from inside (capabilities, read-only paths, seccomp, setns,
    /// nf_log in another namespace), and `follow` with both backends under it.
    func testSandboxProbeAndFollowUnderTheUnit() throws {
        let dir = try temporaryDirectory()
        let probe = try E2E.run([Self.tools + "/unit-container.sh", "sandbox", dir + "/sandbox"], check: false)
        XCTAssertEqual(probe.status, 0, probe.stdout + probe.stderr)
        let follow = try E2E.run([Self.tools + "/unit-container.sh", "follow", E2E.binary, dir + "/follow"], check: false)
        XCTAssertEqual(follow.status, 0, follow.stdout + follow.stderr)
    }

    /// The host check fails for a file the unit really writes on the host: its log directory bound
    /// read-write from a host directory, the stand-in daemon's file sink lands there.
    func testHostCheckCatchesAFileTheUnitWrites() throws {
        let dir = try temporaryDirectory()
        let hostLogs = "/var/tmp/fwtrace-e2e-host-logs-\(getpid())"
        try FileManager.default.createDirectory(atPath: hostLogs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: hostLogs) }
        let probe = try E2E.run(["/usr/bin/env", "UNIT_CONTAINER_HOST_LOGS=\(hostLogs)", Self.tools + "/unit-container.sh", "sandbox", dir + "/sandbox"], check: false)
        XCTAssertEqual(probe.status, 1, probe.stdout + probe.stderr)
        XCTAssertTrue(probe.stdout.contains("FAIL host files changed: "), probe.stdout)
        XCTAssertTrue(probe.stdout.contains(hostLogs), probe.stdout)
        XCTAssertTrue(probe.stdout.contains("unit-container: 34 checks, 1 failed"), probe.stdout)
    }

    /// rsyslog (Debian's package) receives the daemon's socket sink over TCP on loopback and
    /// parses each line with mmjsonparse: its output shows the fields.
    func testRsyslogCollectorParsesTheSocketSink() throws {
        let lab = try TestLab("drs")
        self.lab = lab
        try lab.installClassicFirewall()
        let dir = try temporaryDirectory()
        let collector = dir + "/rsyslog"
        let port = 25514 + Int.random(in: 0..<1000)
        let start = try E2E.run([Self.tools + "/rsyslog-collector.sh", "start", collector, String(port)], check: false)
        XCTAssertEqual(start.status, 0, start.stdout + start.stderr)
        addTeardownBlock { _ = try? E2E.run([Self.tools + "/rsyslog-collector.sh", "stop", collector], check: false) }

        let daemon = try DaemonHarness()
        self.daemon = daemon
        try daemon.writeConfig("""
        [[sink]]
        name = "rsyslog"
        type = "socket"
        address = "tcp:127.0.0.1:\(port)"

        [[watch]]
        name = "web"
        netns = "\(lab.server)"
        proto = "tcp"
        dport = 8080
        limit = "20"
        """)
        try daemon.start()
        try daemon.waitFor("watch web: session")
        usleep(300_000)
        try lab.send(["tcp", "10.99.0.2", "8080"])
        let waited = try E2E.run([Self.tools + "/rsyslog-collector.sh", "wait", collector, "2", "15"], check: false)
        XCTAssertEqual(waited.status, 0, waited.stdout + waited.stderr + daemon.log)
        let parsed = try String(contentsOfFile: collector + "/parsed.log", encoding: .utf8)
        XCTAssertTrue(parsed.contains("type=session"), parsed)
        let pathLine = try XCTUnwrap(parsed.split(separator: "\n").first { $0.hasPrefix("type=path") }, parsed)
        XCTAssertTrue(pathLine.contains("verdict=reject") && pathLine.contains("dport=8080") && pathLine.contains("chain=INPUT")
                      && pathLine.contains("table=filter") && pathLine.contains("rule=7") && pathLine.contains("src=10.99.0.1"), String(pathLine))
        XCTAssertTrue(pathLine.contains("shadowed-rule"), String(pathLine))
        let failed = (try? String(contentsOfFile: collector + "/failed.log", encoding: .utf8)) ?? ""
        XCTAssertEqual(failed, "", "every line the daemon sent is JSON")
    }
}
