import Foundation
import XCTest

/// Shared pieces of the end-to-end tests: they run the real fwtrace binary as root against the
/// real kernel, inside network namespaces each test makes (fwt-e2e-*, fwt-abuse-*) and deletes.
enum E2E {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The fwtrace built next to this test bundle (or FWTRACE_BIN).
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["FWTRACE_BIN"] { return path }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            let candidate = bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("fwtrace").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return packageRoot.appendingPathComponent(".build/debug/fwtrace").path
    }

    static let sendScript = packageRoot.appendingPathComponent("Tests/tools/send.py").path
    static let daemonPeer = packageRoot.appendingPathComponent("Tests/tools/daemon_peer.py").path
    static let churnScript = packageRoot.appendingPathComponent("Tests/tools/churn.py").path
    static let validator = packageRoot.appendingPathComponent("Tests/tools/validate_records.py").path
    static let schema = packageRoot.appendingPathComponent("docs/schema/fwtrace-1.schema.json").path

    /// Loads an nft script into a namespace (`nft -f`, from a file of its own, deleted after).
    static func applyNft(_ script: String, in namespace: String) throws {
        let file = NSTemporaryDirectory() + "fwtrace-e2e-\(UUID().uuidString).nft"
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try run(["ip", "netns", "exec", namespace, "nft", "-f", file])
    }

    /// These tests need root and must run in CI: without root they fail, loudly, instead of skipping.
    static func requireRoot(file: StaticString = #filePath, line: UInt = #line) throws {
        guard getuid() == 0 else {
            XCTFail("end-to-end tests need root (network namespaces, nftables): run `sudo make test`", file: file, line: line)
            throw XCTSkip("not root")
        }
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            XCTFail("fwtrace binary not found at \(binary)", file: file, line: line)
            throw XCTSkip("no binary")
        }
    }

    struct Result { let status: Int32; let stdout: String; let stderr: String }

    @discardableResult
    static func run(_ arguments: [String], check: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let result = Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                            stderr: String(decoding: errData, as: UTF8.self))
        if check && result.status != 0 {
            XCTFail("`\(arguments.joined(separator: " "))` exited \(result.status): \(result.stderr)", file: file, line: line)
            throw NSError(domain: "e2e", code: Int(result.status))
        }
        return result
    }

    /// Validates JSON lines against the schema with the reference validator (python3-jsonschema).
    static func validate(_ path: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let result = try? run(["/usr/bin/python3", validator, schema, path], check: false) else {
            return XCTFail("could not run the schema validator", file: file, line: line)
        }
        XCTAssertEqual(result.status, 0, "schema validation of \(path):\n\(result.stdout)\(result.stderr)", file: file, line: line)
    }
}

/// A client and a server namespace joined by a veth pair: 10.99.0.1 ⇄ 10.99.0.2, fd99::1 ⇄ fd99::2.
final class TestLab {
    let client: String
    let server: String
    private var background: [Process] = []

    /// Namespaces `<prefix>-<name>-c` and `-s`.
    init(_ name: String, prefix: String = "fwt-e2e") throws {
        client = "\(prefix)-\(name)-c"
        server = "\(prefix)-\(name)-s"
        destroy()
        try E2E.run(["ip", "netns", "add", client])
        try E2E.run(["ip", "netns", "add", server])
        try E2E.run(["ip", "link", "add", "fwte2e0", "netns", client, "type", "veth", "peer", "name", "fwte2e1", "netns", server])
        for (ns, dev, v4, v6) in [(client, "fwte2e0", "10.99.0.1", "fd99::1"), (server, "fwte2e1", "10.99.0.2", "fd99::2")] {
            try E2E.run(["ip", "-n", ns, "addr", "add", "\(v4)/24", "dev", dev])
            try E2E.run(["ip", "-n", ns, "addr", "add", "\(v6)/64", "dev", dev, "nodad"])
            try E2E.run(["ip", "-n", ns, "link", "set", dev, "up"])
            try E2E.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        }
        try E2E.run(["ip", "-n", client, "addr", "add", "10.99.0.66/24", "dev", "fwte2e0"])
    }

    @discardableResult
    func server(_ arguments: [String]) throws -> E2E.Result { try E2E.run(["ip", "netns", "exec", server] + arguments) }

    private var behind: [String] = []

    /// A container-like namespace `name` behind the server, 10.98.0.2 on `appDevice`, reached from
    /// the server's 10.98.0.1 on `serverDevice`, with forwarding on in the server; deleted with the lab.
    func addNamespaceBehindServer(_ name: String, serverDevice: String, appDevice: String) throws {
        _ = try? E2E.run(["ip", "netns", "delete", name], check: false)
        try E2E.run(["ip", "netns", "add", name])
        behind.append(name)
        try E2E.run(["ip", "link", "add", serverDevice, "netns", server, "type", "veth", "peer", "name", appDevice, "netns", name])
        try E2E.run(["ip", "-n", server, "addr", "add", "10.98.0.1/24", "dev", serverDevice])
        try E2E.run(["ip", "-n", name, "addr", "add", "10.98.0.2/24", "dev", appDevice])
        try E2E.run(["ip", "-n", server, "link", "set", serverDevice, "up"])
        try E2E.run(["ip", "-n", name, "link", "set", appDevice, "up"])
        try self.server(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    }

    @discardableResult
    func send(_ arguments: [String]) throws -> E2E.Result {
        try E2E.run(["ip", "netns", "exec", client, "/usr/bin/python3", E2E.sendScript] + arguments, check: false)
    }

    /// The firewall of the classic "I opened 8080 with -A" question, with iptables-nft.
    func installClassicFirewall(iptables: String = "iptables-nft") throws {
        let rules: [[String]] = [
            ["-N", "fail2ban-SSH"],
            ["-A", "fail2ban-SSH", "-s", "10.99.0.66", "-j", "REJECT", "--reject-with", "icmp-port-unreachable"],
            ["-A", "fail2ban-SSH", "-s", "10.99.0.67", "-j", "REJECT", "--reject-with", "icmp-port-unreachable"],
            ["-A", "INPUT", "-p", "tcp", "-m", "tcp", "--dport", "22", "-j", "fail2ban-SSH"],
            ["-A", "INPUT", "-m", "state", "--state", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
            ["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
            ["-A", "INPUT", "-p", "tcp", "-m", "state", "--state", "NEW", "-m", "tcp", "--dport", "22", "-j", "ACCEPT"],
            ["-A", "INPUT", "-p", "tcp", "-m", "state", "--state", "NEW", "-m", "tcp", "--dport", "80", "-j", "ACCEPT"],
            ["-A", "INPUT", "-p", "tcp", "-m", "state", "--state", "NEW", "-m", "tcp", "--dport", "443", "-j", "ACCEPT"],
            ["-A", "INPUT", "-j", "REJECT", "--reject-with", "icmp-host-prohibited"],
            ["-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT"],
            ["-A", "FORWARD", "-j", "REJECT", "--reject-with", "icmp-host-prohibited"],
        ]
        for rule in rules { try server([iptables] + rule) }
    }

    /// Starts `fwtrace lab listen` in the server namespace on these TCP ports.
    func listen(_ ports: [Int]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: E2E.binary)
        process.arguments = ["lab", "listen", "--netns", server] + ports.flatMap { ["--port", String($0)] }
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        background.append(process)
        _ = out.fileHandleForReading.availableData   // "listening …" once bound
    }

    func destroy() {
        for p in background where p.isRunning { p.terminate(); p.waitUntilExit() }
        background.removeAll()
        for ns in [client, server] + behind where FileManager.default.fileExists(atPath: "/run/netns/\(ns)") {
            _ = try? E2E.run(["ip", "netns", "delete", ns], check: false)
        }
    }

    deinit { destroy() }
}

/// A running `fwtrace follow --format json`, its records collected from a file.
final class Follow {
    let process = Process()
    let outputPath: String
    private let errPipe = Pipe()

    convenience init(_ arguments: [String]) throws {
        try self.init(rawCommand: [E2E.binary, "follow", "--format", "json"] + arguments)
    }

    /// Any command line that runs a `follow` (through runuser, against a daemon …).
    init(rawCommand: [String]) throws {
        outputPath = NSTemporaryDirectory() + "fwtrace-e2e-\(UUID().uuidString).jsonl"
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = rawCommand
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        process.standardError = errPipe
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, process.isRunning, !output.contains("\"event\":\"started\"") { usleep(20_000) }
        guard output.contains("\"event\":\"started\"") else {
            throw NSError(domain: "e2e", code: 1, userInfo: [NSLocalizedDescriptionKey: "fwtrace follow did not start: \(stderr)"])
        }
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    lazy var stderr: String = { String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }()

    /// Waits for fwtrace to exit (it exits on --count or --timeout) and returns its status.
    @discardableResult
    func wait(timeout: TimeInterval = 20) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    var records: [[String: Any]] {
        output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    var paths: [[String: Any]] { records.filter { $0["type"] as? String == "path" } }

    deinit { try? FileManager.default.removeItem(atPath: outputPath) }
}

extension Dictionary where Key == String, Value == Any {
    subscript(object key: String) -> [String: Any] { self[key] as? [String: Any] ?? [:] }
    subscript(array key: String) -> [[String: Any]] { self[key] as? [[String: Any]] ?? [] }
}
