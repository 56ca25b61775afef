import Foundation
import XCTest
@testable import FWTraceCore

/// The text view on the rulesets firewall managers really write (Fixtures/owners: firewalld, ufw,
/// ufw with podman or Docker, fail2ban, Shorewall, kube-proxy, …): each capture replayed through
/// the one pipeline as `fwtrace replay CAPTURE --ruleset ruleset.nft.txt --ruleset ruleset.json
/// --iptables-save … --ip6tables-save … --format text` runs it, compared with a stored snapshot
/// (Snapshots/owners/<folder>.txt, the owners' labels in brackets; FWTRACE_RECORD_SNAPSHOTS=1 writes them anew), and checked: the
/// decision on the second line, every step that is not plumbing on a line of its own, no run of
/// plumbing longer than one line, and `--steps all` the same view unfolded.
final class OwnerTextViewTests: XCTestCase {
    static let folders = ["firewalld", "ufw", "ufw-podman", "ufw-podman/route-allow", "ufw-docker", "docker", "podman",
                          "fail2ban", "fail2ban-nftables", "shorewall", "shorewall-legacy", "kube-proxy"]
    static let snapshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots/owners")

    /// Every path of every trace in a folder, in file-name order, replayed as `fwtrace replay` does.
    static func paths(_ folder: String) throws -> [(trace: String, path: PacketPath)] {
        let dir = KernelFixture.directory().appendingPathComponent("owners/\(folder)")
        func text(_ name: String) -> String? { try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8) }
        let traces = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".hex") }.sorted()
        var out: [(String, PacketPath)] = []
        for trace in traces {
            let replay = CaptureReplay(text: Array(try Data(contentsOf: dir.appendingPathComponent(trace))))
            var ruleset: Ruleset
            switch replay.backend {
            case .legacy:
                ruleset = Ruleset.parse(iptablesSave: text("iptables-legacy-save.txt") ?? "")
            case .nft:
                ruleset = Ruleset.build(nftListing: text("ruleset.nft.txt") ?? "",
                                        iptablesSave: [.ip: text("iptables-nft-save.txt") ?? "", .ip6: text("ip6tables-nft-save.txt") ?? ""])
                if let json = text("ruleset.json") { ruleset.addNftJSON([try NftListing(json: json)]) }
            }
            // The owners as follow names them there: from the ruleset and the tool's files.
            replay.run(ruleset: ruleset.withOwners(OwnerFixture.followState(dir)), options: TracePipeline.Options(),
                       nflog: replay.backend == .legacy ? try Nflog.decoder() : nil) { output in
                if case .record(.path(let path), _) = output { out.append((trace, path)) }
            }
        }
        return out
    }

    func testSnapshotsOfManagedFirewalls() throws {
        var failures: [String] = []
        for folder in Self.folders {
            let paths = try Self.paths(folder)
            XCTAssertFalse(paths.isEmpty, folder)
            let rendered = paths.map { "# \($0.trace)\n" + TextView(color: false, steps: .folded).render($0.path, netns: nil) }
                .joined(separator: "\n\n") + "\n"
            let url = Self.snapshots.appendingPathComponent(folder.replacingOccurrences(of: "/", with: "-") + ".txt")
            if ProcessInfo.processInfo.environment["FWTRACE_RECORD_SNAPSHOTS"] != nil {
                try FileManager.default.createDirectory(at: Self.snapshots, withIntermediateDirectories: true)
                try rendered.write(to: url, atomically: false, encoding: .utf8)
                continue
            }
            if rendered != (try? String(contentsOf: url, encoding: .utf8)) { failures.append(folder) }
        }
        XCTAssertEqual(failures, [], "text view changed for these (FWTRACE_RECORD_SNAPSHOTS=1 records them)")
    }

    func testDecisionFirstEveryActingStepShownPlumbingFolded() throws {
        for folder in Self.folders {
            for (trace, path) in try Self.paths(folder) {
                checkFolded(path, label: "\(folder)/\(trace)")
            }
        }
    }

    func checkFolded(_ p: PacketPath, label: String) {
        let lines = TextView(color: false, steps: .folded).render(p, netns: nil).components(separatedBy: "\n")
        // The decision: the verdict in the header, the verdict and the deciding rule on line 2.
        XCTAssertTrue(lines[0].hasSuffix(p.verdict.rawValue.uppercased()) || p.incomplete, label)
        if let deciding = p.decidingStep {
            XCTAssertTrue(lines[1].hasPrefix("  decided: \(p.verdict.rawValue.uppercased()) by \(TextView.place(deciding)) \(TextView.position(deciding))"), "\(label): \(lines[1])")
            if let text = deciding.text { XCTAssertTrue(lines[1].contains(text), label) }
        } else {
            XCTAssertTrue(p.incomplete && lines[1].hasPrefix("  decided: nothing"), "\(label): \(lines[1])")
        }
        // The rows cover every step once, in order; each fold is a maximal run of two or more.
        let rows = TextView.rows(p, steps: .folded)
        XCTAssertEqual(lines.count, 2 + rows.count + p.hints.count, label)
        var covered: [Int] = []
        var previousWasPlumbing = false
        let marks = TextView.marksAfterSteps(p)
        func plumbing(_ i: Int) -> Bool {
            TextView.passesThrough(p.steps[i], deciding: i == p.decidedBy, markChanged: marks.after[i] != (i == 0 ? marks.before : marks.after[i - 1]))
        }
        for row in rows {
            switch row {
            case .step(let i):
                covered.append(i)
                XCTAssertFalse(previousWasPlumbing && plumbing(i), "\(label): two lines of plumbing in a row at step \(i)")
                previousWasPlumbing = plumbing(i)
            case .fold(let run):
                covered += Array(run)
                XCTAssertGreaterThanOrEqual(run.count, 2, label)
                XCTAssertTrue(run.allSatisfy(plumbing), "\(label): a fold hides a step that acted: \(run)")
                XCTAssertFalse(previousWasPlumbing, "\(label): a fold after plumbing")
                previousWasPlumbing = true
            }
        }
        XCTAssertEqual(covered, Array(p.steps.indices), label)
        // Every step that matched, changed the packet or decided has a line of its own.
        for i in p.steps.indices where !plumbing(i) { XCTAssertTrue(rows.contains(.step(i)), "\(label): step \(i) hidden") }
        // --steps all: the same view with every fold opened.
        let all = TextView(color: false, steps: .all).render(p, netns: nil).components(separatedBy: "\n")
        XCTAssertEqual(all.count, 2 + p.steps.count + p.hints.count, label)
        XCTAssertEqual(Array(all.prefix(2)), Array(lines.prefix(2)), label)
        XCTAssertEqual(Array(all.suffix(p.hints.count)), Array(lines.suffix(p.hints.count)), label)
        for (n, row) in rows.enumerated() {
            if case .step(let i) = row { XCTAssertEqual(lines[2 + n], all[2 + i], label) }
            if case .fold(let run) = row { XCTAssertTrue(lines[2 + n].contains("⋯ \(run.count) steps of jumps and returns where no rule acted"), label) }
        }
    }

    /// The case of issue 14: one SYN through firewalld's ruleset was 90 lines of plumbing.
    func testFirewalldRejectIsAFewLines() throws {
        let (_, path) = try XCTUnwrap(try Self.paths("firewalld").first { $0.trace == "trace-v4-8080-public-rejected.hex" })
        XCTAssertEqual(path.steps.count, 90)
        let folded = TextView(color: false, steps: .folded).render(path, netns: nil).components(separatedBy: "\n")
        XCTAssertLessThanOrEqual(folded.count, 12, folded.joined(separator: "\n"))
        XCTAssertTrue(folded[1].contains("REJECT by input inet firewalld/filter_IN_public #9"), folded[1])
        XCTAssertEqual(TextView(color: false, steps: .all).render(path, netns: nil).components(separatedBy: "\n").count, 92 + path.hints.count)
    }

    func testChainNamesShortened() {
        XCTAssertEqual(TextView.shortened(["filter_IN_public", "filter_IN_public_pre", "filter_IN_public_log", "ufw-user-input"]),
                       ["filter_IN_public", "…_pre", "…_log", "ufw-user-input"])
        XCTAssertEqual(TextView.shortened(["mangle_PREROUTING", "mangle_PREROUTING_ZONES", "mangle_PRE_public"]),
                       ["mangle_PREROUTING", "…_ZONES", "…_public"])
        XCTAssertEqual(TextView.shortened(["INPUT", "INPUT2"]), ["INPUT", "INPUT2"])
    }
}
