import Foundation
import XCTest

/// `fwtrace daemon --log-level` and log_level in [daemon]: a real daemon logs only what is as
/// urgent as the level or more; the command line wins over the config.
final class LogLevelTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        try E2E.requireRoot()
        directory = "/tmp/fwt-toml-log-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    }

    var configPath: String { directory + "/fwtrace.toml" }

    func write() throws {
        try """
        [daemon]
        socket = "\(directory)/ctl.sock"
        socket_group = "root"
        """.write(toFile: configPath, atomically: false, encoding: .utf8)
    }

    /// A real daemon: started, reloaded with a change that logs a warning, stopped.
    func runDaemon(config logLevel: String?, cli: String?, warns: Bool = true) throws -> String {
        try write()
        var text = try String(contentsOfFile: configPath, encoding: .utf8)
        if let logLevel { text = text.replacingOccurrences(of: "socket_group = \"root\"", with: "socket_group = \"root\"\nlog_level = \"\(logLevel)\"") }
        try text.write(toFile: configPath, atomically: false, encoding: .utf8)
        let errPath = directory + "/daemon.err"
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: E2E.binary)
        p.arguments = ["daemon", "--config", configPath] + (cli.map { ["--log-level", $0] } ?? [])
        let errHandle = FileHandle(forWritingAtPath: errPath)
        p.standardError = errHandle
        // stderr taken for the journal (systemd's JOURNAL_STREAM names its device and inode): the
        // lines carry their priority prefixes, which the checks below read.
        var st = stat()
        if let errHandle, fstat(errHandle.fileDescriptor, &st) == 0 {
            p.environment = ProcessInfo.processInfo.environment.merging(["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]) { $1 }
        }
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        // Ready when status answers on the socket (the "ready:" line is info, maybe not logged).
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let r = try? E2E.run([E2E.binary, "status", "--socket", directory + "/ctl.sock"], check: false), r.status == 0 { break }
            usleep(100_000)
        }
        // A reload that changes socket_mode: a warning (it changes only on restart) and an info line.
        try text.replacingOccurrences(of: "socket_group = \"root\"", with: "socket_group = \"root\"\nsocket_mode = \"0600\"")
            .write(toFile: configPath, atomically: false, encoding: .utf8)
        kill(p.processIdentifier, SIGHUP)
        let log = { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }
        if warns {
            while Date() < deadline && !log().contains("change only on restart") { usleep(50_000) }
        }
        usleep(warns ? 300_000 : 1_000_000)
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, log())
        return log()
    }

    static let infoLines = ["control socket /", "ready:", "reloaded", "stopped: every trace rule removed", "received SIGTERM"]

    func testDaemonAtLogLevelWarningLogsNoInfoLines() throws {
        let log = try runDaemon(config: "warning", cli: nil)
        XCTAssertTrue(log.contains("reload: the control socket's path, group and mode change only on restart"), log)
        for info in Self.infoLines { XCTAssertFalse(log.contains(info), "info line '\(info)' logged at warning:\n\(log)") }
        XCTAssertTrue(log.contains("<4>fwtrace: reload:"), log)
        XCTAssertFalse(log.contains("<6>") || log.contains("<5>") || log.contains("<7>"), log)
    }

    func testLogLevelOnTheCommandLineWinsOverTheConfig() throws {
        let verbose = try runDaemon(config: "warning", cli: "info")
        for info in Self.infoLines { XCTAssertTrue(verbose.contains(info), "'\(info)' missing at --log-level info:\n\(verbose)") }
        let quiet = try runDaemon(config: "info", cli: "error", warns: false)
        XCTAssertFalse(quiet.contains("change only on restart"), quiet)
        for info in Self.infoLines { XCTAssertFalse(quiet.contains(info), quiet) }
    }

    func testBadLogLevelIsRefused() throws {
        try write()
        let cli = try E2E.run([E2E.binary, "daemon", "--config", configPath, "--log-level", "verbose"], check: false)
        XCTAssertEqual(cli.status, 2, cli.stderr)
        XCTAssertEqual(cli.stderr, "fwtrace: --log-level 'verbose' is not a log level: give debug, info, notice, warning or error\n")
    }
}
