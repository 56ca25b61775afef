import Foundation
import XCTest

/// Durations, counts and sizes out of range are refused with one line and exit 2 before anything
/// is installed; broken configurations with their file and line. `--quiet-period 2000h` used to
/// pass, install the legacy TRACE rules and bind nf_log, then trap after the first path.
final class RangeCheckTests: XCTestCase {
    let namespace = "fwt-num-range"
    var directory = ""

    override func setUpWithError() throws {
        try E2E.requireRoot()
        _ = try? E2E.run(["ip", "netns", "delete", namespace], check: false)
        try E2E.run(["ip", "netns", "add", namespace])
        directory = "/tmp/fwt-num-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        _ = try? E2E.run(["ip", "netns", "delete", namespace], check: false)
        if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// What a legacy session changes in the namespace: its raw table (without the save tool's
    /// dated comments) and the logger bound for each family.
    func legacyState() throws -> String {
        let raw = try E2E.run(["ip", "netns", "exec", namespace, "iptables-legacy-save", "-t", "raw"]).stdout
            .split(separator: "\n").filter { !$0.hasPrefix("#") }.joined(separator: "\n")
        let loggers = try E2E.run(["ip", "netns", "exec", namespace, "cat", "/proc/sys/net/netfilter/nf_log/2", "/proc/sys/net/netfilter/nf_log/10"]).stdout
        return raw + "\n" + loggers
    }

    func testFollowRefusesValuesOutOfRangeBeforeInstallingAnything() throws {
        // A rule of the admin's own in raw PREROUTING: fwtrace would insert its TRACE rule before it.
        try E2E.run(["ip", "netns", "exec", namespace, "iptables-legacy", "-t", "raw", "-A", "PREROUTING", "-p", "udp", "--dport", "9", "-j", "ACCEPT"])
        let before = try legacyState()
        XCTAssertTrue(before.contains("-A PREROUTING -p udp -m udp --dport 9 -j ACCEPT"), before)
        let cases: [([String], String)] = [
            (["--quiet-period", "2000h"], "fwtrace: --quiet-period 2000h is out of range: give a duration from 1ms to 5s (for example: --quiet-period 100ms)"),
            (["--timeout", "1000h"], "fwtrace: --timeout 1000h is out of range: give a duration from 1ms to 720h (for example: --timeout 10s)"),
            (["--count", "2000000000"], "fwtrace: --count 2000000000 is out of range: give a number of paths from 1 to 1000000000 (for example: --count 1)"),
            (["--receive-buffer", "9223372036854775807"], "fwtrace: --receive-buffer 9223372036854775807 is out of range: give a number of bytes from 4096 to 1073741824 (for example: --receive-buffer 16777216)"),
            (["--receive-backlog=-1"], "fwtrace: --receive-backlog -1 is out of range: give a number of bytes from 0 to 1073741824 (for example: --receive-backlog 8388608)"),
        ]
        for (arguments, message) in cases {
            let r = try E2E.run([E2E.binary, "follow", "--standalone", "--netns", namespace, "--backend", "legacy",
                                 "-p", "tcp", "--dport", "80", "--timeout", "3s"] + arguments, check: false)
            XCTAssertEqual(r.status, 2, "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.stderr, message + "\n", "\(arguments)")
            XCTAssertEqual(r.stdout, "", "\(arguments)")
            XCTAssertEqual(try legacyState(), before, "\(arguments) changed the namespace")
        }
    }

    func check(_ config: String) throws -> E2E.Result {
        let path = directory + "/fwtrace.toml"
        try config.write(toFile: path, atomically: false, encoding: .utf8)
        return try E2E.run([E2E.binary, "daemon", "--check", "--config", path], check: false)
    }

    func testCheckRefusesARequestTimeoutOutOfRangeWithFileAndLine() throws {
        // Accepted before: the daemon then trapped (SIGILL) on its first connection.
        let r = try check("[daemon]\nsocket = \"\(directory)/ctl.sock\"\nrequest_timeout = \"1000h\"\n")
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertEqual(r.stderr, "fwtrace: \(directory)/fwtrace.toml:3: request_timeout: 1000h is out of range: give a duration from 100ms to 5m\n")
        // socket_group: --check also refuses a group that does not exist (the default, fwtrace, may not).
        let ok = try check("[daemon]\nsocket = \"\(directory)/ctl.sock\"\nsocket_group = \"root\"\nrequest_timeout = \"5m\"\n")
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    func testCheckRefusesA60000DeepArrayWithFileAndLine() throws {
        // It segfaulted (a recursive call per `[`); a reload of such a file did too.
        let r = try check("[daemon]\nsocket = \"\(directory)/ctl.sock\"\n\n[[watch]]\nname = \"w\"\nverdicts = " + String(repeating: "[", count: 60_000) + "\n")
        XCTAssertEqual(r.status, 2, r.stderr)
        // toml++ refuses it at 256 levels, before any recursion of fwtrace's.
        XCTAssertEqual(r.stderr, "fwtrace: \(directory)/fwtrace.toml:6: TOML syntax (value): exceeded maximum nested value depth of 256 (TOML_MAX_NESTED_VALUES) (fwtrace's keys take strings or arrays of strings, like [\"a\", \"b\"])\n")
    }
}
