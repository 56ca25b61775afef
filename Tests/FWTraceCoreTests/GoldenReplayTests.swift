import Foundation
import XCTest
@testable import FWTraceCore

/// Every captured fixture replayed as `follow` prints it, against JSON lines recorded before the
/// pipeline refactor (issue 13): the refactor must change no output. Re-record deliberately with
/// FWTRACE_RECORD_GOLDEN=1 (Tests/tools/record-golden.sh) and list every change in the commit.
final class GoldenReplayTests: XCTestCase {
    /// Every capture: the nft ones and the legacy-* ones.
    static var scenarios: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: KernelFixture.directory().path)) ?? []
        return files.filter { $0.hasSuffix(".hex") }.map { String($0.dropFirst(KernelFixture.kernel.count + 1).dropLast(4)) }.sorted()
    }

    func testEveryFixtureReplaysAsRecorded() throws {
        // 16 recorded before issue 13's refactor, 2 mark captures after; none without its golden.
        XCTAssertGreaterThanOrEqual(Self.scenarios.count, 18, "the captured fixtures")
        var failures: [String] = []
        for scenario in Self.scenarios {
            let actual = try GoldenReplay.lines(scenario)
            XCTAssertFalse(actual.isEmpty, "\(scenario): no record")
            if GoldenRecords.recording {
                try GoldenRecords.record(actual, scenario: scenario)
                continue
            }
            let expected = try GoldenRecords.load(scenario)
            let differences = GoldenRecords.differences(expected: expected, actual: actual)
            if !differences.isEmpty { failures.append("\(scenario):\n  " + differences.joined(separator: "\n  ")) }
        }
        XCTAssert(failures.isEmpty, "replayed records differ from Fixtures/golden:\n" + failures.joined(separator: "\n"))
    }

    /// The diff names the record and the field, not two whole lines.
    func testDiffNamesRecordAndField() {
        let e = #"{"type":"path","trace_id":"0000002a","path":[{"rule":1,"text":"a"}],"verdict":"drop"}"#
        let a = #"{"type":"path","trace_id":"0000002a","path":[{"rule":2,"text":"a"}],"verdict":"drop"}"#
        XCTAssertEqual(GoldenRecords.differences(expected: [e], actual: [a]),
                       ["record 1 (path trace_id 0000002a): path[0].rule: expected 1, actual 2"])
        XCTAssertEqual(GoldenRecords.differences(expected: [e, e], actual: [e]).first, "2 records expected, 1 printed")
        XCTAssertEqual(GoldenRecords.differences(expected: [e], actual: [e]), [])
    }
}
