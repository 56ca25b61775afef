import Foundation
import XCTest

/// The messages issue 12 found misleading: each is one line on stderr that says what is wrong and
/// what to do, with the exit code scripts expect (2 usage, 4 privileges). Unprivileged runs use
/// setpriv (uid and gid 65534, no groups) on a copy of the binary any user may execute.
final class MessageTests: DaemonTestCase {
    var nobodyBinary: String { daemon.binary }

    /// Runs fwtrace (as nobody when `unprivileged`) and checks: the exit code, nothing on stdout,
    /// exactly one line on stderr; returns that line without "fwtrace: ".
    func oneLine(_ arguments: [String], unprivileged: Bool = false, as user: String? = nil, exit: Int32,
                 file: StaticString = #filePath, line: UInt = #line) throws -> String {
        var command = [unprivileged || user != nil ? nobodyBinary : E2E.binary] + arguments
        if unprivileged { command = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"] + command }
        if let user { command = ["runuser", "-u", user, "--"] + command }
        let r = try E2E.run(command, check: false)
        XCTAssertEqual(r.status, exit, "\(arguments): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stdout, "", "\(arguments)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("fwtrace: ") && r.stderr.hasSuffix("\n"), "\(arguments): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "\(arguments): not one line: \(r.stderr)", file: file, line: line)
        return String(r.stderr.dropFirst("fwtrace: ".count).dropLast())
    }

    func testUnprivilegedExplainSaysReadingTheRulesetNeedsCapNetAdmin() throws {
        let message = try oneLine(["explain", "-s", "10.0.0.1", "-d", "10.0.0.2", "--dport", "80"], unprivileged: true, exit: 4)
        XCTAssertEqual(message, "fwtrace explain needs CAP_NET_ADMIN to read the ruleset (it installs nothing and sends nothing): run it as root (sudo fwtrace explain …)")
    }

    /// A legacy capture is decoded through an nflog group bound in a private namespace: without
    /// root that cannot be made, and replay says so (an nft capture replays as anyone).
    func testUnprivilegedReplayOfALegacyCaptureSaysItNeedsRoot() throws {
        let fixtures = E2E.packageRoot.appendingPathComponent("Tests/FWTraceCoreTests/Fixtures")
        let directory = URL(fileURLWithPath: "/tmp/fwt-e2e-replay-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        for (name, file) in [("legacy.hex", "kernel-6.18-legacy-v4-ack-accepted-and-ct-invalid.hex"), ("nft.hex", "kernel-6.18-v4-tcp-reject-input-rule7.hex")] {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent(file), to: directory.appendingPathComponent(name))
        }
        try E2E.run(["chmod", "-R", "a+rX", directory.path])
        XCTAssertEqual(try oneLine(["replay", directory.appendingPathComponent("legacy.hex").path], unprivileged: true, exit: 4),
                       "this is a legacy (nfnetlink_log) capture: fwtrace decodes it with libnetfilter_log through an nflog group bound in a private network namespace, which needs root (unshare(CLONE_NEWNET): Operation not permitted): run replay as root (sudo fwtrace replay …)")
        let nft = try E2E.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", nobodyBinary, "replay",
                               directory.appendingPathComponent("nft.hex").path, "--format", "json"], check: false)
        XCTAssertEqual(nft.status, 0, nft.stderr)
        XCTAssertTrue(nft.stdout.contains(#""type":"path""#), nft.stdout)
        // As root the same capture replays.
        let legacy = try E2E.run([E2E.binary, "replay", directory.appendingPathComponent("legacy.hex").path, "--format", "json"])
        XCTAssertTrue(legacy.stdout.contains(#""backend":"legacy""#), legacy.stdout)
    }

    func testAnInvalidAddressIsCalledInvalidNotOfAnotherFamily() throws {
        XCTAssertEqual(try oneLine(["explain", "-s", "10.0.0.300", "-d", "10.0.0.2", "--dport", "80"], exit: 2),
                       "invalid address '10.0.0.300' for --src: give one IPv4 or IPv6 address (for example: -s 10.0.0.1)")
        XCTAssertEqual(try oneLine(["explain", "-s", "10.0.0.1", "-d", "fd00::1::2", "--dport", "80"], exit: 2),
                       "invalid address 'fd00::1::2' for --dst: give one IPv4 or IPv6 address (for example: -d 10.0.0.2)")
        // Two valid addresses of different families still say so.
        XCTAssertEqual(try oneLine(["explain", "-s", "10.0.0.1", "-d", "fd00::2", "--dport", "80"], exit: 2),
                       "--src 10.0.0.1 and --dst fd00::2 are of different families: give two IPv4 or two IPv6 addresses (for example: -s 10.0.0.1 -d 10.0.0.2)")
    }

    func testExplainExplainsAPortOutOfRangeAsFollowDoes() throws {
        let explain = try oneLine(["explain", "-s", "10.0.0.1", "-d", "10.0.0.2", "--dport", "99999"], exit: 2)
        XCTAssertEqual(explain, "invalid port '99999' in --dport 99999: ports are numbers from 0 to 65535 (for example: --dport 8080)")
        let follow = try oneLine(["follow", "--standalone", "--dport", "99999"], exit: 2)
        XCTAssertTrue(follow.hasPrefix("invalid port '99999' in --dport 99999: ports are numbers from 0 to 65535 (for example: --dport 8080"), follow)
        XCTAssertEqual(try oneLine(["explain", "-s", "10.0.0.1", "-d", "10.0.0.2", "--dport", "80", "--sport", "70000"], exit: 2),
                       "invalid port '70000' in --sport 70000: ports are numbers from 0 to 65535 (for example: --sport 8080)")
        // explain describes one packet: a range is refused, saying so.
        XCTAssertEqual(try oneLine(["explain", "-s", "10.0.0.1", "-d", "10.0.0.2", "--dport", "80:90"], exit: 2),
                       "--dport 80:90 is not one port: explain describes one packet, give one port from 0 to 65535 (for example: --dport 8080)")
    }

    func testAMistypedOptionSuggestsTheNearestOption() throws {
        XCTAssertEqual(try oneLine(["follow", "--dprot", "80"], exit: 2),
                       "unknown option '--dprot': did you mean '--dport'? (`fwtrace follow --help` lists the options)")
        XCTAssertEqual(try oneLine(["explain", "-s", "10.0.0.1", "-d", "10.0.0.2", "--dprot", "80"], exit: 2),
                       "unknown option '--dprot': did you mean '--dport'? (`fwtrace explain --help` lists the options)")
        XCTAssertEqual(try oneLine(["follow", "--prot", "tcp"], exit: 2),
                       "unknown option '--prot': did you mean '--proto'? (`fwtrace follow --help` lists the options)")
        XCTAssertEqual(try oneLine(["status", "--sokcet", "/x"], exit: 2),
                       "unknown option '--sokcet': did you mean '--socket'? (`fwtrace status --help` lists the options)")
        // Nothing near: no guess.
        XCTAssertEqual(try oneLine(["follow", "--frobnicate"], exit: 2),
                       "unknown option '--frobnicate' (`fwtrace follow --help` lists the options)")
        // Other usage errors are one line too, with where to look.
        XCTAssertEqual(try oneLine(["explain", "-d", "10.0.0.2"], exit: 2),
                       "missing expected argument '--src <address>' (see `fwtrace explain --help`)")
    }

    func testAnUnknownStateListsTheStates() throws {
        XCTAssertEqual(try oneLine(["explain", "-s", "10.0.0.1", "-d", "10.0.0.2", "--dport", "80", "--state", "bogus"], exit: 2),
                       "invalid --state 'bogus': give one of new, established, related, invalid, untracked (for example: --state new)")
    }

    func testUnprivilegedFollowMentionsTheDaemonOnlyWhenOneIsThere() throws {
        // No daemon (no socket): root is the only way, and that is all it says.
        let none = try oneLine(["follow", "--socket", daemon.directory + "/none.sock", "--dport", "80"], unprivileged: true, exit: 4)
        XCTAssertEqual(none, "fwtrace follow needs CAP_NET_ADMIN to install trace rules and read trace events: run it as root (sudo fwtrace follow …)")

        // A socket nobody answers on (a daemon that is not running): start it.
        let stale = daemon.directory + "/stale.sock"
        try E2E.run(["/usr/bin/python3", "-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", stale])
        try E2E.run(["chgrp", DaemonHarness.group, stale])
        try E2E.run(["chmod", "0666", stale])   // connect answers ECONNREFUSED, not EACCES
        let notRunning = try oneLine(["follow", "--socket", stale, "--dport", "80"], unprivileged: true, exit: 4)
        XCTAssertEqual(notRunning, "fwtrace follow needs CAP_NET_ADMIN to install trace rules and read trace events: run it as root (sudo fwtrace follow …), or start the fwtrace daemon (systemctl start fwtrace; nothing answers on \(stale)): members of group \(DaemonHarness.group) trace through it without root")

        // A daemon runs: a member asking for what only a process of its own can do is told how
        // to trace through the daemon instead.
        try daemon.writeConfig("")
        try daemon.start()
        let socket = daemon.socketPath
        let capture = try oneLine(["follow", "--socket", socket, "--capture", "/tmp/x", "--dport", "80"], as: DaemonHarness.member, exit: 4)
        XCTAssertEqual(capture, "fwtrace follow needs CAP_NET_ADMIN to install trace rules and read trace events: run it as root (sudo fwtrace follow …), or drop --capture to trace through the fwtrace daemon on \(socket), which members of group \(DaemonHarness.group) use without root")
        let standalone = try oneLine(["follow", "--socket", socket, "--standalone", "--no-limit", "--dport", "80"], as: DaemonHarness.member, exit: 4)
        XCTAssertTrue(standalone.hasSuffix("or drop --standalone and --no-limit to trace through the fwtrace daemon on \(socket), which members of group \(DaemonHarness.group) use without root"), standalone)
        // Someone outside the group: how to join it.
        let outsider = try oneLine(["follow", "--socket", socket, "--dport", "80"], unprivileged: true, exit: 4)
        XCTAssertEqual(outsider, "permission denied on \(socket): only root and members of group \(DaemonHarness.group) may use the fwtrace daemon; ask an admin to add you (usermod -aG \(DaemonHarness.group) $USER, then log in again), or run as root with --standalone")
    }
}
