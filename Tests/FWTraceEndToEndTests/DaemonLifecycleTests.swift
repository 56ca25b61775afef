import Foundation
import XCTest

/// The daemon's lifecycle on the real kernel: SIGHUP reloads (good and broken), SIGTERM removes
/// everything, kill -9 is repaired by the next start, sd_notify speaks systemd's protocol.
final class DaemonLifecycleTests: DaemonTestCase {
    func watch(_ name: String, _ netns: String, dport: Int, backend: String = "auto") -> String {
        """
        [[watch]]
        name = "\(name)"
        netns = "\(netns)"
        backend = "\(backend)"
        proto = "tcp"
        dport = \(dport)
        limit = "20"

        """
    }

    func sessions(_ status: [String: Any]) -> [String: String] {
        var out: [String: String] = [:]
        for w in status[array: "watches"] { out[w["name"] as? String ?? ""] = w["session"] as? String ?? "" }
        return out
    }

    func tables(_ namespace: String) throws -> String {
        try E2E.run(["ip", "netns", "exec", namespace, "nft", "list", "tables"]).stdout
    }

    func testReloadAddsRemovesKeepsAndRefusesABrokenConfig() throws {
        let a = try lab("dra")
        let sink = "[[sink]]\nname = \"file\"\ntype = \"file\"\npath = \"\(daemon.directory)/paths.jsonl\"\n\n"
        try daemon.writeConfig(sink + watch("keep", a.server, dport: 22) + watch("old", a.server, dport: 80))
        try daemon.start()
        try daemon.waitFor("watch old: session")
        let before = sessions(try daemon.status())
        XCTAssertEqual(Set(before.keys), ["keep", "old"])
        XCTAssertTrue(try tables(a.server).contains("fwtrace_\(before["old"]!)"))

        // Added and removed; "keep" is the same watch and must not be restarted.
        try daemon.writeConfig(sink + watch("keep", a.server, dport: 22) + watch("new", a.server, dport: 8080))
        daemon.signal(SIGHUP)
        try daemon.waitFor("reloaded")
        XCTAssertTrue(daemon.log.contains("1 watches added, 1 removed, 0 changed, 1 untouched"), daemon.log)
        var after = sessions(try daemon.status())
        XCTAssertEqual(Set(after.keys), ["keep", "new"])
        XCTAssertEqual(after["keep"], before["keep"], "an unchanged watch keeps its session")
        var listed = try tables(a.server)
        XCTAssertFalse(listed.contains("fwtrace_\(before["old"]!)"), "the removed watch's table is gone")
        eventually("the new watch's table") { (try? tables(a.server))?.contains("fwtrace_\(sessions((try? daemon.status()) ?? [:])["new"] ?? "-")") == true }
        usleep(200_000)
        try a.send(["tcp", "10.99.0.2", "8080"])
        eventually("a path from the added watch") {
            records(in: daemon.directory + "/paths.jsonl").contains { $0["type"] as? String == "path" && $0["watch"] as? String == "new" }
        }

        // Broken: refused with file and line; the running configuration stays.
        try daemon.writeConfig(sink + watch("keep", a.server, dport: 22) + "[[watch]]\nname = \"bad\"\ndport = 70000\n")
        daemon.signal(SIGHUP)
        try daemon.waitFor("reload refused")
        let badLine = try String(contentsOfFile: daemon.configPath, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).firstIndex(of: "dport = 70000")! + 1
        XCTAssertTrue(daemon.log.contains("reload refused, the running configuration stays: \(daemon.configPath):\(badLine): watch 'bad': invalid port"), daemon.log)
        after = sessions(try daemon.status())
        XCTAssertEqual(Set(after.keys), ["keep", "new"])
        listed = try tables(a.server)
        XCTAssertTrue(listed.contains("fwtrace_\(after["new"]!)") && listed.contains("fwtrace_\(after["keep"]!)"), listed)
        XCTAssertNotNil(daemon.process?.isRunning == true ? daemon.process : nil)
        // And the sinks were told (an error record in the file).
        XCTAssertTrue(records(in: daemon.directory + "/paths.jsonl").contains { $0["type"] as? String == "error" && ($0["message"] as? String ?? "").contains("reload refused") })
        E2E.validate(daemon.directory + "/paths.jsonl")
    }

    func testStartRefusesABrokenConfigWithFileAndLine() throws {
        try daemon.writeConfig("[[watch]]\nname = \"w\"\nprto = \"tcp\"\n")
        let r = try E2E.run([daemon.binary, "daemon", "--config", daemon.configPath], check: false)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("\(daemon.configPath):8: unknown key 'prto' in [watch] (did you mean proto?)"), r.stderr)
        let check = try E2E.run([daemon.binary, "daemon", "--check", "--config", daemon.configPath], check: false)
        XCTAssertEqual(check.status, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: daemon.socketPath), "nothing was set up")
    }

    func binding(_ lab: TestLab) throws -> String {
        try lab.server(["cat", "/proc/sys/net/netfilter/nf_log/2"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func legacyRaw(_ lab: TestLab) throws -> String { try lab.server(["iptables-legacy-save", "-t", "raw"]).stdout }

    func testSigtermRemovesEveryRuleAndRestoresBindings() throws {
        let n = try lab("dsn"), l = try lab("dsl", iptables: "iptables-legacy")
        let bindingBefore = try binding(l)
        try daemon.writeConfig(watch("nft", n.server, dport: 8080, backend: "nft") + watch("legacy", l.server, dport: 8080, backend: "legacy"))
        try daemon.start()
        try daemon.waitFor("watch legacy: session")
        eventually("both sessions running") { ((try? daemon.status()) ?? [:])[array: "watches"].allSatisfy { $0["state"] as? String == "running" } }
        XCTAssertTrue(try tables(n.server).contains("fwtrace_"))
        XCTAssertTrue(try legacyRaw(l).contains("fwtrace:"))
        XCTAssertEqual(try binding(l), "nfnetlink_log")
        XCTAssertEqual(daemon.stop(), 0, daemon.log)
        XCTAssertFalse(try tables(n.server).contains("fwtrace"))
        XCTAssertFalse(try legacyRaw(l).contains("fwtrace"))
        XCTAssertEqual(try binding(l), bindingBefore)
        XCTAssertFalse(FileManager.default.fileExists(atPath: daemon.socketPath))
        XCTAssertTrue(daemon.log.contains("stopped: every trace rule removed"), daemon.log)
    }

    func testKill9NftTablesVanishAndTheNextStartRepairsLegacy() throws {
        let n = try lab("dkn"), l = try lab("dkl", iptables: "iptables-legacy")
        let bindingBefore = try binding(l)
        let rulesBefore = try legacyRaw(l).split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.hasPrefix(":") }
        try daemon.writeConfig(watch("nft", n.server, dport: 8080, backend: "nft") + watch("legacy", l.server, dport: 8080, backend: "legacy"))
        try daemon.start()
        eventually("both sessions running") { ((try? daemon.status()) ?? [:])[array: "watches"].allSatisfy { $0["state"] as? String == "running" } }
        daemon.kill9()
        eventually("the owner table went with the process") { (try? tables(n.server))?.contains("fwtrace") == false }
        XCTAssertTrue(try legacyRaw(l).contains("fwtrace:"), "legacy rules outlive kill -9")
        XCTAssertEqual(try binding(l), "nfnetlink_log")

        // The next start, with a config that no longer names that namespace, repairs it.
        try daemon.writeConfig("")
        try daemon.start()
        XCTAssertTrue(daemon.log.contains("repaired in netns \(l.server)"), daemon.log)
        XCTAssertFalse(try legacyRaw(l).contains("fwtrace"))
        XCTAssertEqual(try legacyRaw(l).split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.hasPrefix(":") }, rulesBefore)
        XCTAssertEqual(try binding(l), bindingBefore)
    }

    func testSystemdNotifyReadyReloadingWatchdogStopping() throws {
        let received = daemon.directory + "/notify.log"
        let listener = try Helper(["/usr/bin/python3", E2E.daemonPeer, "notify", daemon.directory + "/notify.sock", received])
        daemon.environment = ["NOTIFY_SOCKET": daemon.directory + "/notify.sock", "WATCHDOG_USEC": "400000"]
        try daemon.writeConfig("")
        try daemon.start()
        func messages() -> String { (try? String(contentsOfFile: received, encoding: .utf8)) ?? "" }
        eventually("READY=1") { messages().contains("READY=1") }
        eventually("watchdog keep-alives") { messages().components(separatedBy: "WATCHDOG=1").count > 3 }
        daemon.signal(SIGHUP)
        eventually("RELOADING=1 then READY=1") { messages().contains("RELOADING=1") && messages().components(separatedBy: "READY=1").count > 2 }
        XCTAssertEqual(daemon.stop(), 0)
        eventually("STOPPING=1") { messages().contains("STOPPING=1") }
        XCTAssertTrue(messages().contains("MAINPID="), messages())
        _ = listener
    }
}
