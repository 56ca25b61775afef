import Foundation
import XCTest

/// Many short client sessions against a real daemon whose watches keep tracing, with glibc's heap
/// checks on every free and freed memory overwritten: a session lists the ruleset at its start, and
/// each watch again after every ruleset change (each session adds and removes a table), all on
/// threads of their own. Before fwtrace worked around libnftables (docs/decisions.md: the one-flag
/// table JSON bug, and state the library shares between contexts), this daemon aborted within a
/// few hundred sessions ("corrupted double-linked list", an assertion in set_dtype_json).
final class DaemonChurnTests: XCTestCase {
    let namespace = "fwt-nftuaf-churn"
    var daemon: DaemonHarness!

    override func setUpWithError() throws {
        try E2E.requireRoot()
        _ = try? E2E.run(["ip", "netns", "delete", namespace], check: false)
        try E2E.run(["ip", "netns", "add", namespace])
        try E2E.run(["ip", "-n", namespace, "link", "set", "lo", "up"])
        // `iif "lo"` makes libnftables look interfaces up (its process-wide interface cache); the
        // set goes through the JSON output of a set's type (strtok in 1.0.6).
        let ruleset = """
        table inet web {
          set quiet { type inet_service; elements = { 7, 13 }; }
          chain input {
            type filter hook input priority filter; policy accept;
            iif "lo" udp dport 9 counter
            udp dport 10 counter
            udp dport @quiet drop
          }
        }
        """
        let file = NSTemporaryDirectory() + "fwt-nftuaf-churn.nft"
        try ruleset.write(toFile: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try E2E.run(["ip", "netns", "exec", namespace, "nft", "-f", file])
        daemon = try DaemonHarness()
    }

    override func tearDown() {
        daemon?.stop()
        daemon = nil
        _ = try? E2E.run(["ip", "netns", "delete", namespace], check: false)
    }

    override class func tearDown() { DaemonHarness.removeAccounts() }

    func fwtraceTables() -> Int {
        let tables = (try? E2E.run(["ip", "netns", "exec", namespace, "nft", "list", "tables"]).stdout) ?? ""
        return tables.components(separatedBy: "fwtrace_").count - 1
    }

    func testTwoThousandSessionsWithWatchesRunningUnderHeapChecks() throws {
        let paths = daemon.directory + "/paths.jsonl"
        try daemon.writeConfig("""
        [[sink]]
        name = "file"
        type = "file"
        path = "\(paths)"

        [[watch]]
        name = "nine"
        netns = "\(namespace)"
        backend = "nft"
        proto = "udp"
        dport = 9
        limit = "50"

        [[watch]]
        name = "ten"
        netns = "\(namespace)"
        backend = "nft"
        proto = "udp"
        dport = 10
        limit = "50"
        """, daemon: "max_sessions = 8")
        // glibc 2.36: with the per-thread cache off every free goes through the heap's consistency
        // checks ("corrupted double-linked list", "double free or corruption"), and freed memory
        // is overwritten, so reading it afterwards yields garbage at once. (libc_malloc_debug.so's
        // malloc.check=3 catches the same bug, but costs 4 times as much CPU: see decisions.md.)
        daemon.environment = ["GLIBC_TUNABLES": "glibc.malloc.tcache_count=0", "MALLOC_PERTURB_": "165"]
        try daemon.start()
        try daemon.waitFor("watch nine: session")
        try daemon.waitFor("watch ten: session")

        let sessions = 2000
        let churn = try E2E.run(["ip", "netns", "exec", namespace, "/usr/bin/python3", E2E.churnScript, daemon.socketPath,
                                 namespace, String(sessions), "3", "--traffic", "9,10", "--rate", "2"], check: false)
        let summary = try? JSONSerialization.jsonObject(with: Data(churn.stdout.utf8)) as? [String: Any]
        let log = daemon.log
        // glibc's and the Swift runtime's words for a crash; the lines before the first are its cause.
        let markers = ["corrupted", "double free", "free(): ", "malloc(): ", "Assertion", "Program crashed", "Fatal error"]
        let crash = markers.compactMap { log.range(of: $0)?.lowerBound }.min()
        let cause = crash.map { String(log[log.index($0, offsetBy: -min(600, log.distance(from: log.startIndex, to: $0)))...].prefix(1500)) } ?? ""
        XCTAssertNil(crash, "the daemon's log shows a crash:\n\(cause)")
        XCTAssertTrue(daemon.process?.isRunning == true, "the daemon died: \(churn.stdout)\n\(cause.isEmpty ? String(log.suffix(1500)) : cause)")
        XCTAssertEqual(churn.status, 0, "\(churn.stdout)\(churn.stderr)")
        XCTAssertEqual(summary?["ended"] as? Int, sessions, churn.stdout)

        // The watches ran throughout and still trace.
        let status = try daemon.status()
        XCTAssertEqual(status[array: "watches"].map { $0["state"] as? String }, ["running", "running"], "\(status)")
        eventually("every client session is gone") { ((try? daemon.status()) ?? [:])[array: "sessions"].isEmpty }
        eventually("only the watches' tables are left") { fwtraceTables() == 2 }
        let traced = Set(records(in: paths).filter { $0["type"] as? String == "path" }.compactMap { $0["watch"] as? String })
        XCTAssertEqual(traced, ["nine", "ten"])
        XCTAssertEqual(daemon.stop(), 0, daemon.log.suffix(2000).description)
        XCTAssertEqual(fwtraceTables(), 0)
    }
}
