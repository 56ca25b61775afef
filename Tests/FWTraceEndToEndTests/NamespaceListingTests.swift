import Foundation
import XCTest
@testable import FWTraceKernel

/// Every network namespace, each once: named ones (/run/netns), ones only a process holds
/// (`unshare -n`), ones held by a bind mount elsewhere; the initial one marked. Makes
/// fwt-nsl-a/-b, a process in each of a and an unnamed namespace, and a bind mount under /tmp, and
/// removes exactly those.
final class NamespaceListingTests: XCTestCase {
    var processes: [Process] = []
    let mountPoint = NSTemporaryDirectory() + "fwt-nsl-mount-\(getpid())"

    override func tearDown() {
        for p in processes where p.isRunning { p.terminate(); p.waitUntilExit() }
        _ = try? E2E.run(["umount", mountPoint], check: false)
        try? FileManager.default.removeItem(atPath: mountPoint)
        for ns in ["fwt-nsl-a", "fwt-nsl-b"] { _ = try? E2E.run(["ip", "netns", "delete", ns], check: false) }
    }

    func start(_ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        try p.run()
        processes.append(p)
        return p
    }

    func testNamedUnnamedAndMountedNamespacesEachOnce() throws {
        try E2E.requireRoot()
        for ns in ["fwt-nsl-a", "fwt-nsl-b"] { try E2E.run(["ip", "netns", "add", ns]) }
        let inA = try start(["ip", "netns", "exec", "fwt-nsl-a", "sleep", "30"])
        let alone = try start(["unshare", "--net", "sleep", "30"])
        FileManager.default.createFile(atPath: mountPoint, contents: nil)
        try E2E.run(["mount", "--bind", "/run/netns/fwt-nsl-b", mountPoint])
        // The processes are in their namespaces once their sleep runs.
        var listing = NamespaceListing.scan()
        for _ in 0..<50 {
            listing = NamespaceListing.scan()
            let pids = Set(listing.entries.flatMap(\.pids))
            if pids.contains(inA.processIdentifier) && pids.contains(alone.processIdentifier) { break }
            usleep(50_000)
        }
        let inodes = listing.entries.map(\.inode)
        XCTAssertEqual(inodes.count, Set(inodes).count, "each namespace once")
        XCTAssertTrue(listing.entries.first?.isInitial == true)
        XCTAssertEqual(listing.entries.filter(\.isInitial).count, 1)
        let a = try XCTUnwrap(listing.entries.first { $0.names.contains("fwt-nsl-a") })
        XCTAssertTrue(a.pids.contains(inA.processIdentifier), "\(a)")
        XCTAssertEqual(a.path(), "/run/netns/fwt-nsl-a")
        let b = try XCTUnwrap(listing.entries.first { $0.names.contains("fwt-nsl-b") })
        XCTAssertEqual(b.mounts, [mountPoint])
        let unnamed = try XCTUnwrap(listing.entries.first { $0.pids.contains(alone.processIdentifier) })
        XCTAssertEqual(unnamed.names, [])
        XCTAssertNotEqual(unnamed.inode, a.inode)
        XCTAssertEqual(unnamed.path(), "/proc/\(unnamed.pids[0])/ns/net")
        XCTAssertNil(unnamed.container)
    }
}
