import Foundation
import XCTest

/// docs/decisions.md, "libnftables is loaded with dlopen": the binary does not link libnftables, so
/// where it is missing everything but the nft backend works, and the nft backend says in one
/// sentence what to install and exits 5. The library is hidden in a private mount namespace
/// (an empty file bound over libnftables.so.1, so the loader and dlopen find nothing loadable);
/// the host's library is untouched and the mount vanishes with the command.
final class LibnftablesAbsentTests: XCTestCase {
    static let namespace = "fwt-deb-nolib"

    /// The real file behind the soname, as the dynamic loader would find it.
    private func libraryPath() throws -> String {
        let ldconfig = try E2E.run(["ldconfig", "-p"]).stdout
        guard let line = ldconfig.split(separator: "\n").first(where: { $0.contains("libnftables.so.1 ") }),
              let path = line.components(separatedBy: "=> ").last else {
            XCTFail("libnftables.so.1 is not installed on this machine (make deps installs libnftables1)")
            throw XCTSkip("no libnftables")
        }
        return URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    /// `command` run with libnftables hidden: an empty file bound over the library and over the
    /// soname's path (its symlink), in a mount namespace of its own.
    private func withoutLibnftables(_ command: [String]) throws -> E2E.Result {
        let real = try libraryPath()
        let soname = URL(fileURLWithPath: real).deletingLastPathComponent().appendingPathComponent("libnftables.so.1").path
        let empty = NSTemporaryDirectory() + "fwt-deb-empty-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: empty, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let script = #"mount --bind "$1" "$2" && mount --bind "$1" "$3" && shift 3 && exec "$@""#
        return try E2E.run(["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh", empty, real, soname] + command,
                           check: false)
    }

    func testBinaryDoesNotLinkLibnftables() throws {
        try E2E.requireRoot()
        let ldd = try E2E.run(["ldd", E2E.binary]).stdout
        XCTAssertFalse(ldd.contains("libnftables"), "fwtrace links libnftables (it must dlopen it):\n\(ldd)")
    }

    func testHiddenLibraryIsReallyGone() throws {
        try E2E.requireRoot()
        // The check itself: in that mount namespace nothing can load libnftables.so.1.
        let probe = try withoutLibnftables(["/usr/bin/python3", "-c", "import ctypes; ctypes.CDLL('libnftables.so.1')"])
        XCTAssertNotEqual(probe.status, 0, "libnftables.so.1 still loads with the library hidden")
        XCTAssertTrue(probe.stderr.contains("libnftables.so.1"), probe.stderr)
    }

    func testVersionAndHelpRunWithoutLibnftables() throws {
        try E2E.requireRoot()
        let version = try withoutLibnftables([E2E.binary, "--version"])
        XCTAssertEqual(version.status, 0, "fwtrace --version without libnftables: \(version.stderr)")
        XCTAssertFalse(version.stdout.isEmpty)
        let help = try withoutLibnftables([E2E.binary, "follow", "--help"])
        XCTAssertEqual(help.status, 0, help.stderr)
    }

    func testNftBackendWithoutLibnftablesExits5WithOneSentence() throws {
        try E2E.requireRoot()
        let ns = Self.namespace
        _ = try? E2E.run(["ip", "netns", "delete", ns], check: false)
        try E2E.run(["ip", "netns", "add", ns])
        defer { _ = try? E2E.run(["ip", "netns", "delete", ns], check: false) }

        let follow = try withoutLibnftables([E2E.binary, "follow", "--backend", "nft", "--netns", ns,
                                             "-p", "tcp", "--dport", "9", "--timeout", "2s"])
        XCTAssertEqual(follow.status, 5, "exit code; stderr: \(follow.stderr)")
        XCTAssertEqual(follow.stdout, "")
        let lines = follow.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.count, 1, "one line on stderr:\n\(follow.stderr)")
        XCTAssertTrue(follow.stderr.contains("libnftables is not installed"), follow.stderr)
        XCTAssertTrue(follow.stderr.contains("apt-get install libnftables1"), follow.stderr)
        // Nothing was installed in the namespace on the way.
        let tables = try E2E.run(["ip", "netns", "exec", ns, "nft", "list", "tables"]).stdout
        XCTAssertEqual(tables.trimmingCharacters(in: .whitespacesAndNewlines), "", "tables left: \(tables)")
    }
}
