import Foundation
import XCTest

/// `fwtrace replay` (the real binary) on every captured fixture prints the records the golden
/// test expects (Tests/FWTraceCoreTests/Fixtures/golden); on damaged captures it reports what it
/// skips and never dies by a signal or hangs. Offline: no namespace, no root needed.
final class ReplayCommandTests: XCTestCase {
    static let fixtures = E2E.packageRoot.appendingPathComponent("Tests/FWTraceCoreTests/Fixtures")
    static let kernel = "kernel-6.18"

    static var scenarios: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: fixtures.path)) ?? []
        return files.filter { $0.hasSuffix(".hex") }.map { String($0.dropFirst(kernel.count + 1).dropLast(4)) }.sorted()
    }

    /// The arguments that hand replay the fixture's ruleset files and interface names.
    static func arguments(_ scenario: String) -> [String] {
        let base = fixtures.appendingPathComponent("\(kernel)-\(scenario)").path
        var args = [base + ".hex", "--format", "json", "--interface", "1=lo", "--interface", "2=fwtcap1"]
        for (suffix, option) in [(".nft.txt", "--ruleset"), (".iptables-save.txt", "--iptables-save"), (".ip6tables-save.txt", "--ip6tables-save")]
        where FileManager.default.fileExists(atPath: base + suffix) {
            args += [option, base + suffix]
        }
        return args
    }

    /// A record without its host (the replaying machine's), keys sorted: comparable text.
    static func normalized(_ line: Substring) -> String {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { return "not JSON: \(line)" }
        object["host"] = nil
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    func testEveryFixtureReplaysAsTheGoldenRecords() throws {
        // One golden per captured fixture, none left over (their number grows with the captures).
        let goldens = try FileManager.default.contentsOfDirectory(atPath: Self.fixtures.appendingPathComponent("golden").path)
            .filter { $0.hasSuffix(".jsonl") }.map { String($0.dropLast(6)) }.sorted()
        XCTAssertFalse(Self.scenarios.isEmpty, "no captured fixture")
        XCTAssertEqual(Self.scenarios, goldens, "the captured fixtures: one golden each")
        for scenario in Self.scenarios {
            let r = try E2E.run([E2E.binary, "replay"] + Self.arguments(scenario))
            let lines = r.stdout.split(separator: "\n")
            let types = lines.map { Self.normalized($0) }.compactMap { $0.range(of: #""type":"[a-z]+""#, options: .regularExpression).map { String($0.description) } }
            XCTAssertEqual(types.count, lines.count)
            XCTAssertTrue(lines.first?.contains(#""event":"started""#) ?? false, "\(scenario): no started record")
            XCTAssertTrue(lines.last?.contains(#""event":"ended""#) ?? false, "\(scenario): no ended record")
            let records = lines.dropFirst().dropLast().map(Self.normalized)
            let golden = try String(contentsOf: Self.fixtures.appendingPathComponent("golden/\(scenario).jsonl"), encoding: .utf8)
                .split(separator: "\n").map(Self.normalized)
            try checkSessionRecords(scenario, started: lines.first, ended: lines.last,
                                    paths: golden.filter { $0.contains(#""type":"path""#) }.count)
            XCTAssertEqual(records.count, golden.count, "\(scenario): record count")
            if let i = zip(records, golden).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                XCTFail("\(scenario): record \(i + 1) differs from the golden one:\n  expected \(golden[i])\n  printed  \(records[i])")
            }
            let tmp = NSTemporaryDirectory() + "fwt-replay-\(scenario).jsonl"
            try r.stdout.write(toFile: tmp, atomically: true, encoding: .utf8)
            E2E.validate(tmp)
            try? FileManager.default.removeItem(atPath: tmp)
        }
    }

    /// The started and ended records carry what docs/output.md says a capture knows.
    func checkSessionRecords(_ scenario: String, started: Substring?, ended: Substring?, paths: Int) throws {
        func object(_ line: Substring?) throws -> [String: Any] {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data((line ?? "").utf8)) as? [String: Any], scenario)
        }
        let start = try object(started), end = try object(ended)
        let hex = try String(contentsOf: Self.fixtures.appendingPathComponent("\(Self.kernel)-\(scenario).hex"), encoding: .utf8)
        let times = hex.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: " ").first }
        let legacy = scenario.hasPrefix("legacy-")
        XCTAssertEqual(start["filter"] as? String, "", scenario)
        XCTAssertEqual((start["families"] as? [Any])?.count, 0, scenario)
        XCTAssertEqual((start["rules"] as? [Any])?.count, 0, scenario)
        let table = start["table"] as? String ?? ""
        XCTAssertTrue(legacy ? table == "raw" : table.hasPrefix("inet fwtrace_"), "\(scenario): table \(table)")
        // The session id is the one in fwtrace's table name (nft), else "replay".
        XCTAssertEqual(start["session"] as? String, legacy ? "replay" : String(table.dropFirst("inet fwtrace_".count)), scenario)
        XCTAssertEqual(start["time"] as? String, try Self.isoTime(try XCTUnwrap(times.first)), "\(scenario): started at the first datagram")
        XCTAssertEqual(end["time"] as? String, try Self.isoTime(try XCTUnwrap(times.last)), "\(scenario): ended at the last datagram")
        XCTAssertEqual(end["reason"] as? String, "capture-end", scenario)
        XCTAssertEqual(end["paths"] as? Int, paths, scenario)
        XCTAssertEqual(end["lost"] as? Int, 0, scenario)
        XCTAssertGreaterThan(end["events"] as? Int ?? 0, 0, scenario)
    }

    /// A capture's receive time ("1796179986.367219") as records write it (UTC, microseconds).
    static func isoTime(_ text: Substring) throws -> String {
        let parts = text.split(separator: ".")
        let seconds = try XCTUnwrap(Double(parts[0]))
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        let micro = parts.count > 1 ? String(parts[1].prefix(6)).padding(toLength: 6, withPad: "0", startingAt: 0) : "000000"
        return formatter.string(from: Date(timeIntervalSince1970: seconds)) + ".\(micro)Z"
    }

    func testTextFormatAndNoRulesetFiles() throws {
        let scenario = "v4-tcp-reject-input-rule7"
        let hex = Self.fixtures.appendingPathComponent("\(Self.kernel)-\(scenario).hex").path
        let withText = Self.arguments(scenario).filter { $0 != "--format" && $0 != "json" } + ["--format", "text"]
        let text = try E2E.run([E2E.binary, "replay"] + withText)
        XCTAssertTrue(text.stdout.contains("REJECT"), text.stdout)
        XCTAssertTrue(text.stdout.contains("-A INPUT"), text.stdout)
        XCTAssertFalse(text.stdout.contains(#""schema""#))
        // Without rule files: the same paths, without rule text.
        let bare = try E2E.run([E2E.binary, "replay", hex, "--format", "json"])
        XCTAssertFalse(bare.stdout.contains(#""text":"-A INPUT"#))
        XCTAssertTrue(bare.stdout.contains(#""type":"path""#))
        let bad = try E2E.run([E2E.binary, "replay", hex, "--interface", "eth0"], check: false)
        XCTAssertEqual(bad.status, 2, bad.stderr)
        let missing = try E2E.run([E2E.binary, "replay", "/nonexistent/capture.hex"], check: false)
        XCTAssertEqual(missing.status, 1, missing.stderr)
    }

    /// The binary's text view on firewalld's real ruleset, given firewalld's zones, is the core
    /// test's snapshot (Snapshots/owners/firewalld.txt, folded: owners and hints from the zones'
    /// XML there, from `firewall-cmd --list-all-zones` here), and --steps all prints every step.
    func testTextViewOnAManagedFirewallFoldsAndStepsAllUnfolds() throws {
        let dir = Self.fixtures.appendingPathComponent("owners/firewalld").path
        let trace = "trace-v4-8080-public-rejected.hex"
        let args = [dir + "/" + trace, "--ruleset", dir + "/ruleset.nft.txt", "--ruleset", dir + "/ruleset.json",
                    "--iptables-save", dir + "/iptables-nft-save.txt", "--ip6tables-save", dir + "/ip6tables-nft-save.txt", "--format", "text",
                    "--tool-state", "firewalld-zones=" + dir + "/tool-firewall-cmd-list-all-zones.txt"]
        let folded = try E2E.run([E2E.binary, "replay"] + args).stdout
        let snapshot = try String(contentsOf: E2E.packageRoot.appendingPathComponent("Tests/FWTraceCoreTests/Snapshots/owners/firewalld.txt"), encoding: .utf8)
        let section = try XCTUnwrap(snapshot.components(separatedBy: "\n\n").first { $0.hasPrefix("# \(trace)\n") })
        XCTAssertEqual(folded.trimmingCharacters(in: .newlines), String(section.drop { $0 != "\n" }.dropFirst()).trimmingCharacters(in: .newlines))
        XCTAssertTrue(folded.split(separator: "\n")[1].contains("decided: REJECT by input inet firewalld/filter_IN_public #9"), folded)
        let all = try E2E.run([E2E.binary, "replay"] + args + ["--steps", "all"]).stdout.split(separator: "\n")
        XCTAssertEqual(all.count, 2 + 90 + 1, all.joined(separator: "\n"))  // packet, decision, steps, the firewalld-zone hint
        XCTAssertFalse(all.contains { $0.contains("⋯") })
        let bad = try E2E.run([E2E.binary, "replay"] + args + ["--steps", "some"], check: false)
        XCTAssertEqual(bad.status, 2, bad.stderr)
    }

    /// `--tool-state` hands ufw's own files to the owners: the rule number `ufw status numbered`
    /// shows (Fixtures/owners/ufw, from the captures of issue 14).
    func testToolStateNamesUfwRules() throws {
        let dir = Self.fixtures.appendingPathComponent("owners/ufw").path
        let r = try E2E.run([E2E.binary, "replay", dir + "/trace-v4-22-denied-rule2.hex", "--format", "text",
                             "--ruleset", dir + "/ruleset.nft.txt", "--iptables-save", dir + "/iptables-nft-save.txt",
                             "--tool-state", "ufw-user-rules=" + dir + "/tool-etc-ufw-user.rules.txt"])
        XCTAssertTrue(r.stdout.contains("[ufw rule 2: 22/tcp DENY IN Anywhere]"), r.stdout)
        let bad = try E2E.run([E2E.binary, "replay", dir + "/trace-v4-22-denied-rule2.hex", "--tool-state", "nope=x"], check: false)
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("unknown kind 'nope'"), bad.stderr)
    }
}
