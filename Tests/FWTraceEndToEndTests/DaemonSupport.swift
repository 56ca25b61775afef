import Foundation
import XCTest

/// A running `fwtrace daemon` for a test: its own directory (socket, config, sinks), its own
/// group and users (made here, deleted after), started from the binary copied to a place any
/// user may execute (the unprivileged clients run it too).
final class DaemonHarness {
    static let group = "fwt-e2e-grp"
    static let member = "fwt-e2e-in"
    static let outsider = "fwt-e2e-out"

    let directory: String
    let binary: String
    var process: Process?
    let stderrPath: String
    var configPath: String { directory + "/fwtrace.toml" }
    var socketPath: String { directory + "/ctl.sock" }
    var environment: [String: String] = [:]
    /// Start the daemon as systemd would with StandardError=journal: JOURNAL_STREAM names its
    /// stderr (here the log file), so it writes `<N>` priority prefixes.
    var stderrIsJournal = false

    init() throws {
        directory = "/tmp/fwt-e2e-daemon-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        binary = directory + "/fwtrace"
        try FileManager.default.copyItem(atPath: E2E.binary, toPath: binary)
        stderrPath = directory + "/daemon.err"
        Self.makeAccounts()
    }

    /// The group and two users: one in the group, one not. Left from a crashed run: reused.
    static func makeAccounts() {
        _ = try? E2E.run(["groupadd", "--system", group], check: false)
        _ = try? E2E.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "-G", group, member], check: false)
        _ = try? E2E.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", outsider], check: false)
    }

    static func removeAccounts() {
        _ = try? E2E.run(["userdel", member], check: false)
        _ = try? E2E.run(["userdel", outsider], check: false)
        _ = try? E2E.run(["groupdel", group], check: false)
    }

    /// The test config's [daemon] table plus what the test adds.
    func writeConfig(_ body: String, daemon extra: String = "") throws {
        let text = """
        [daemon]
        socket = "\(socketPath)"
        socket_group = "\(Self.group)"
        \(extra)

        \(body)
        """
        try text.write(toFile: configPath, atomically: false, encoding: .utf8)
    }

    func start(waitReady: Bool = true) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["daemon", "--config", configPath]
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let stderrHandle = FileHandle(forWritingAtPath: stderrPath)
        p.standardError = stderrHandle
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        var environment = self.environment
        var st = stat()
        if stderrIsJournal, let fd = stderrHandle?.fileDescriptor, fstat(fd, &st) == 0 { environment["JOURNAL_STREAM"] = "\(st.st_dev):\(st.st_ino)" }
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        try p.run()
        process = p
        guard waitReady else { return }
        try waitFor("ready:", timeout: 20)
    }

    var log: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func waitFor(_ text: String, count: Int = 1, timeout: TimeInterval = 15) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.components(separatedBy: text).count - 1 >= count { return }
            if let p = process, !p.isRunning { break }
            usleep(50_000)
        }
        throw NSError(domain: "e2e", code: 1, userInfo: [NSLocalizedDescriptionKey: "daemon log never said '\(text)' ×\(count):\n\(log)"])
    }

    func signal(_ sig: Int32) { if let p = process, p.isRunning { kill(p.processIdentifier, sig) } }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func stop(timeout: TimeInterval = 20) -> Int32 {
        guard let p = process else { return -1 }
        if p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        process = nil
        return p.terminationStatus
    }

    func kill9() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    /// `fwtrace status --format json` as root.
    func status() throws -> [String: Any] {
        let r = try E2E.run([binary, "status", "--socket", socketPath, "--format", "json"])
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    /// A control request sent raw (tools/daemon_peer.py), as root.
    func request(_ arguments: [String]) throws -> String {
        try E2E.run(["/usr/bin/python3", E2E.daemonPeer, "request", socketPath] + arguments, check: false).stdout
    }

    /// `fwtrace follow` through the daemon as `user` (nil: root), in the background.
    func follow(as user: String?, _ arguments: [String]) throws -> Follow {
        let command = [binary, "follow", "--socket", socketPath, "--format", "json"] + arguments
        return try Follow(rawCommand: user.map { ["runuser", "-u", $0, "--"] + command } ?? command)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A background helper process (collector, notify listener) that prints "listening" when ready.
final class Helper {
    let process = Process()
    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        _ = out.fileHandleForReading.availableData
    }
    deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }
}

func records(in path: String) -> [[String: Any]] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

/// Waits until `condition` holds (polling), or fails with `message`.
func eventually(_ message: @autoclosure () -> String, timeout: TimeInterval = 10, file: StaticString = #filePath, line: UInt = #line, _ condition: () throws -> Bool) rethrows {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        usleep(100_000)
    }
    XCTFail("timed out: \(message())", file: file, line: line)
}

/// What every daemon test class does: root required, a fresh harness, labs and accounts removed.
class DaemonTestCase: XCTestCase {
    var labs: [TestLab] = []
    var daemon: DaemonHarness!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        daemon = try DaemonHarness()
    }

    override func tearDown() {
        daemon?.stop()
        daemon = nil
        for lab in labs { lab.destroy() }
        labs.removeAll()
    }

    override class func tearDown() { DaemonHarness.removeAccounts() }

    func lab(_ name: String, iptables: String = "iptables-nft", listen ports: [Int] = []) throws -> TestLab {
        let lab = try TestLab(name)
        try lab.installClassicFirewall(iptables: iptables)
        if !ports.isEmpty { try lab.listen(ports) }
        labs.append(lab)
        return lab
    }
}
