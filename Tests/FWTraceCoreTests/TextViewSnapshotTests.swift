import Foundation
import XCTest
@testable import FWTraceCore

/// The readable view of recorded paths, compared with stored snapshots (Tests/FWTraceCoreTests/
/// Snapshots). Set FWTRACE_RECORD_SNAPSHOTS=1 to write them anew after an intended change.
final class TextViewSnapshotTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")

    func assertSnapshot(_ scenario: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try KernelFixture.load(scenario)
        let context = HintContext(rules: { fixture.ruleset.rulesInChain($0, $1, $2) }, listening: { _, _, _ in true })
        let rendered = try fixture.paths().map { path -> String in
            var p = path
            p.hints = HintEngine.hints(for: p, context: context)
            return TextView(color: false).render(p, netns: "fwt-cap-srv")
        }.joined(separator: "\n\n") + "\n"
        let url = Self.directory.appendingPathComponent("\(scenario).txt")
        if ProcessInfo.processInfo.environment["FWTRACE_RECORD_SNAPSHOTS"] != nil {
            try rendered.write(to: url, atomically: false, encoding: .utf8)
            return
        }
        let stored = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(rendered, stored, "text view of \(scenario) changed", file: file, line: line)
    }

    func testSnapshots() throws {
        for scenario in ["v4-tcp-reject-input-rule7", "v4-tcp-jump-return-accept", "v4-tcp-dnat",
                         "v4-tcp-accept-rule5-established", "v6-tcp-accept", "nft-native-goto-return-policy"] {
            try assertSnapshot(scenario)
        }
    }

    func testColourOnlyWhenAsked() throws {
        let path = try XCTUnwrap(try KernelFixture.load("v4-tcp-reject-input-rule7").paths().first)
        XCTAssertFalse(TextView(color: false).render(path, netns: nil).contains("\u{1b}"))
        let coloured = TextView(color: true).render(path, netns: nil)
        XCTAssertTrue(coloured.contains("\u{1b}[1;31mREJECT\u{1b}[0m"), coloured)
    }
}
