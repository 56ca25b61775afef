import Foundation
import XCTest
@testable import FWTraceCore

/// The packet mark on each step, in JSON and in the text view, replayed from the mark captures
/// of Tests/tools/capture-mark-fixtures.sh (a SYN that gets mark 0x10 and saves it in conntrack,
/// two ACKs that restore it; nft and iptables-legacy).
final class MarkPathTests: XCTestCase {
    let context = RecordContext(host: "vm", netns: nil, backend: "nft", session: "00000000")

    func testNftStepsCarryTheMarkReportedAfterEachRule() throws {
        let paths = try KernelFixture.load("nft-native-mark-ct-restore").paths()
        XCTAssertEqual(paths.count, 3)
        for path in paths {
            XCTAssertNil(path.mark, "fwtrace's own chain saw no mark")
            XCTAssertEqual(path.markTiming, .afterRule)
            XCTAssertTrue(path.steps.allSatisfy { $0.mark == 0x10 }, "\(path.steps.map(\.mark))")
        }
        let syn = paths[0]
        XCTAssertEqual(syn.steps.map(\.text), ["ct state new tcp dport 80 meta mark set 0x00000010", "ct state new ct mark set meta mark", nil, nil])
        let json = RecordEncoder.path(syn, context: context)
        XCTAssertTrue(json.contains(#""text":"ct state new tcp dport 80 meta mark set 0x00000010","verdict":"continue","mark":16}"#), json)
        XCTAssertNil(try packetMember(json, "mark"), "the packet came unmarked")
    }

    /// The text view shows the mark where it changed: on nft the rule that set it.
    func testNftTextViewShowsTheChangeOnTheRuleThatMadeIt() throws {
        let syn = try XCTUnwrap(try KernelFixture.load("nft-native-mark-ct-restore").paths().first)
        let lines = TextView(color: false).render(syn, netns: nil).split(separator: "\n")
        XCTAssertFalse(lines[0].contains("mark"), String(lines[0]))
        // Line 1 is the decision; the steps follow.
        XCTAssertTrue(lines[2].hasSuffix("meta mark set 0x00000010  → continue  [mark 0x10]"), String(lines[2]))
        XCTAssertEqual(lines.filter { $0.contains("[mark") }.count, 1)
    }

    /// Records of paths with no mark anywhere encode as before: no `mark` member at all.
    func testUnmarkedFixturesHaveNoMarkMember() throws {
        for scenario in KernelFixture.allScenarios where !scenario.contains("mark") {
            for path in try KernelFixture.load(scenario).paths() {
                XCTAssertFalse(RecordEncoder.path(path, context: context).contains("\"mark\""), scenario)
                XCTAssertFalse(TextView(color: false).render(path, netns: nil).contains("mark"), scenario)
            }
        }
    }

    func packetMember(_ json: String, _ key: String) throws -> Any? {
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        return (object["packet"] as? [String: Any])?[key]
    }
}
