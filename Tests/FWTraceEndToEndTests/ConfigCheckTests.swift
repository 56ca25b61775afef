import Foundation
import XCTest

/// `fwtrace daemon --check` refuses what would make the start (or a sink or watch) fail, one line
/// each with file:line and the fix; and the daemon's log level, on a real daemon.
final class ConfigCheckTests: XCTestCase {
    var directory = ""
    var namespaces: [String] = []

    override func setUpWithError() throws {
        try E2E.requireRoot()
        directory = "/tmp/fwt-toml-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for namespace in namespaces { _ = try? E2E.run(["ip", "netns", "delete", namespace], check: false) }
        namespaces.removeAll()
        if !directory.isEmpty {
            _ = try? E2E.run(["umount", directory + "/ro"], check: false)
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    var configPath: String { directory + "/fwtrace.toml" }

    /// A config whose [daemon] is valid here; `body` adds sinks and watches.
    func write(group: String = "root", _ body: String = "") throws {
        try """
        [daemon]
        socket = "\(directory)/ctl.sock"
        socket_group = "\(group)"

        \(body)
        """.write(toFile: configPath, atomically: false, encoding: .utf8)
    }

    func check(_ prefix: [String] = []) throws -> E2E.Result {
        try E2E.run(prefix + [E2E.binary, "daemon", "--check", "--config", configPath], check: false)
    }

    /// Refused with exit 2 and exactly one line: file:line: and the words given.
    func assertRefused(_ result: E2E.Result, line: Int, _ words: [String], file: StaticString = #filePath, line testLine: UInt = #line) {
        XCTAssertEqual(result.status, 2, result.stderr, file: file, line: testLine)
        XCTAssertEqual(result.stdout, "", file: file, line: testLine)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line: \(result.stderr)", file: file, line: testLine)
        XCTAssertTrue(result.stderr.hasPrefix("fwtrace: \(configPath):\(line): "), result.stderr, file: file, line: testLine)
        for word in words { XCTAssertTrue(result.stderr.contains(word), "\(result.stderr) lacks \(word)", file: file, line: testLine) }
    }

    func testCheckPassesWhatTheStartNeedsWhenItIsThere() throws {
        let namespace = "fwt-toml-ok-\(UUID().uuidString.prefix(6))"
        try E2E.run(["ip", "netns", "add", namespace])
        namespaces.append(namespace)
        try write("""
        [[sink]]
        name = "paths"
        type = "file"
        path = "\(directory)/paths.jsonl"

        [[watch]]
        name = "w"
        netns = "\(namespace)"
        """)
        let result = try check()
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "\(configPath): OK (1 watches, 1 sinks)\n")
    }

    func testMissingGroupFailsTheCheckAsItFailsTheStart() throws {
        try write(group: "fwt-toml-nogroup")
        assertRefused(try check(), line: 3, ["socket_group: group 'fwt-toml-nogroup' does not exist", "groupadd --system fwt-toml-nogroup"])
        // What the check stands for: the start itself fails on it.
        let start = try E2E.run([E2E.binary, "daemon", "--config", configPath], check: false)
        XCTAssertEqual(start.status, 5, start.stderr)
        XCTAssertTrue(start.stderr.contains("group 'fwt-toml-nogroup' does not exist"), start.stderr)
    }

    func testFileSinkInAMissingDirectoryFailsTheCheck() throws {
        try write("""
        [[sink]]
        name = "paths"
        type = "file"
        path = "\(directory)/missing/paths.jsonl"
        """)
        assertRefused(try check(), line: 8, ["sink 'paths': directory \(directory)/missing does not exist", "install -d"])
    }

    func testFileSinkPathThatIsADirectoryFailsTheCheck() throws {
        try write("""
        [[sink]]
        name = "paths"
        type = "file"
        path = "\(directory)"
        """)
        assertRefused(try check(), line: 8, ["is a directory", "name a file in it"])
    }

    /// Root writes through permission bits; a read-only mount (in a mount namespace of the check's
    /// own, so the host sees nothing) is what it cannot write.
    func testFileSinkOnAReadOnlyFileSystemFailsTheCheck() throws {
        try FileManager.default.createDirectory(atPath: directory + "/ro", withIntermediateDirectories: true)
        try write("""
        [[sink]]
        name = "paths"
        type = "file"
        path = "\(directory)/ro/paths.jsonl"
        """)
        let script = "mount -t tmpfs -o ro tmpfs \(directory)/ro && exec \"$@\""
        let result = try check(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"])
        assertRefused(result, line: 8, ["sink 'paths': cannot create \(directory)/ro/paths.jsonl", "Read-only file system"])
    }

    func testWatchInAMissingNamespaceFailsTheCheck() throws {
        try write("""
        [[watch]]
        name = "w"
        proto = "tcp"
        netns = "fwt-toml-absent"
        """)
        assertRefused(try check(), line: 8, ["watch 'w': network namespace 'fwt-toml-absent' not found", "ip netns add fwt-toml-absent"])
    }

    func testEveryProblemGetsItsOwnLine() throws {
        try write(group: "fwt-toml-nogroup", """
        [[watch]]
        name = "w"
        netns = "fwt-toml-absent"
        """)
        let result = try check()
        XCTAssertEqual(result.status, 2)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2, result.stderr)
        XCTAssertTrue(lines[0].hasPrefix("fwtrace: \(configPath):3: socket_group:"), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("fwtrace: \(configPath):7: watch 'w':"), lines[1])
    }

    func testSyntaxErrorFailsTheCheckWithItsLine() throws {
        try write("[[watch]]\nname = \"w\"\nverdicts = [\n  \"drop\",\n  reject,\n]")
        assertRefused(try check(), line: 9, ["TOML syntax"])
    }
}
