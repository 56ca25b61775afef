import Foundation
import XCTest

/// The journald sink with a record larger than a datagram can be (the socket's send buffer bounds
/// it, about 416 KiB at the default net.core.wmem_max): it goes through a sealed memfd passed with
/// SCM_RIGHTS, and the tests' private journald (Tests/tools/private-journald.sh) stores it whole.
final class JournaldLargeRecordTests: XCTestCase {
    override func setUpWithError() throws { try E2E.requireRoot() }

    func testRecordLargerThanADatagramArrivesWholeThroughAMemfd() throws {
        let lab = try TestLab("jbig")
        defer { lab.destroy() }
        // 3,000 rules that every packet matches (a counter and a long comment each): one path of
        // more than 3,000 steps, a record of about 1 MB.
        let comment = String(repeating: "c", count: 120)
        var ruleset = "table inet big {\n  chain input {\n    type filter hook input priority filter; policy accept;\n"
        for i in 0..<3000 { ruleset += "    counter comment \"\(i) \(comment)\"\n" }
        ruleset += "    udp dport 7777 drop\n  }\n}\n"
        let file = NSTemporaryDirectory() + "fwtrace-e2e-big-\(getpid()).nft"
        try ruleset.write(toFile: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try lab.server(["nft", "-f", file])

        let daemon = try DaemonHarness()
        defer { daemon.stop(); DaemonHarness.removeAccounts() }
        try daemon.writeConfig("""
        [[sink]]
        name = "journal"
        type = "journald"

        [[watch]]
        name = "big"
        netns = "\(lab.server)"
        proto = "udp"
        dport = 7777
        sinks = ["journal"]
        """)
        let notify = daemon.directory + "/notify.log"
        let journal = daemon.directory + "/journal.jsonl"
        FileManager.default.createFile(atPath: journal, contents: nil)
        let run = Process()
        run.executableURL = URL(fileURLWithPath: E2E.packageRoot.appendingPathComponent("Tests/tools/private-journald.sh").path)
        run.arguments = ["--timeout", "12", "--query", "FWTRACE_VERDICT=drop", "--notify", notify,
                         "--", daemon.binary, "daemon", "--config", daemon.configPath]
        run.standardOutput = FileHandle(forWritingAtPath: journal)
        let errors = Pipe()
        run.standardError = errors
        try run.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !((try? String(contentsOfFile: notify, encoding: .utf8)) ?? "").contains("READY=1") { usleep(50_000) }
        XCTAssertTrue(((try? String(contentsOfFile: notify, encoding: .utf8)) ?? "").contains("READY=1"), "the daemon did not start")
        usleep(500_000)   // the watch's session installs its trace table after READY
        try lab.send(["udp", "10.99.0.2", "7777"])
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()

        let entries = try String(contentsOfFile: journal, encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let entry = try XCTUnwrap(entries.first, "no drop entry in the private journal; daemon log:\n\(log)")
        let message = try XCTUnwrap(entry["MESSAGE"] as? String, "\(entry.keys)")
        XCTAssertGreaterThan(message.utf8.count, 500_000, "the record must be larger than a datagram")
        let record = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(message.utf8)) as? [String: Any], "MESSAGE is the whole JSON line")
        let steps = record[array: "path"]
        XCTAssertGreaterThanOrEqual(steps.count, 3001)
        XCTAssertEqual(steps.last?["text"] as? String, "udp dport 7777 drop")
        XCTAssertEqual(record["verdict"] as? String, "drop")
        XCTAssertEqual(entry["FWTRACE_WATCH"] as? String, "big")
        XCTAssertFalse(log.contains("journald send"), log)
    }
}
