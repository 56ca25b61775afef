import Foundation
import XCTest

/// The readable view on a real terminal (a pty from util-linux `script`): colour there, none with
/// NO_COLOR, none through a pipe.
final class TextViewTerminalTests: XCTestCase {
    var lab: TestLab!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        lab = try TestLab("tty")
        try lab.installClassicFirewall()
    }

    override func tearDown() { lab?.destroy() }

    func fwtraceTableInstalled() -> Bool {
        ((try? lab.server(["nft", "list", "tables"]).stdout) ?? "").contains("fwtrace_")
    }

    /// Runs `fwtrace follow` (text view) under a pty, sends one packet, returns what the terminal got.
    func runOnTerminal(environment: [String: String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        let command = "\(E2E.binary) follow --netns \(lab.server) --dport 8080 --count 1 --timeout 10s"
        process.arguments = ["-qec", command, "/dev/null"]
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while !fwtraceTableInstalled() && Date() < deadline { usleep(50_000) }
        try lab.send(["tcp", "10.99.0.2", "8080"])
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    func testColourOnATerminalAndNoneWithNoColor() throws {
        let coloured = try runOnTerminal(environment: [:])
        XCTAssertTrue(coloured.contains("REJECT"), coloured)
        XCTAssertTrue(coloured.contains("\u{1b}["), "a terminal gets colour: \(coloured.debugDescription)")
        let plain = try runOnTerminal(environment: ["NO_COLOR": "1"])
        XCTAssertTrue(plain.contains("REJECT"), plain)
        XCTAssertFalse(plain.contains("\u{1b}["), "NO_COLOR: \(plain.debugDescription)")
    }

    func testPipeGetsNoEscapeCodes() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: E2E.binary)
        process.arguments = ["follow", "--format", "text", "--netns", lab.server, "--dport", "8080", "--count", "1", "--timeout", "10s"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while !fwtraceTableInstalled() && Date() < deadline { usleep(50_000) }
        try lab.send(["tcp", "10.99.0.2", "8080"])
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertTrue(text.contains("REJECT"), text)
        XCTAssertFalse(text.contains("\u{1b}["))
    }
}
