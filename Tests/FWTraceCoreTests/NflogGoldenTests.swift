import Foundation
import XCTest
@testable import FWTraceCore

/// libnetfilter_log decodes every legacy capture's messages to the same values as the
/// hand-written decoder it replaced: Fixtures/nflog-messages-decoded-by-e1e1618.txt is what that
/// decoder (NflogDecoder, at commit e1e1618) made of each message, written with the same
/// `NflogDump` format.
final class NflogGoldenTests: XCTestCase {
    func testTheLibraryDecodesAsTheHandWrittenDecoderDid() throws {
        let root = KernelFixture.directory()
        let expected = try String(contentsOf: root.appendingPathComponent("nflog-messages-decoded-by-e1e1618.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let decoded = try NflogDump.lines(root: root.path) { try Nflog.decode($0, $1) }
        XCTAssertEqual(decoded.count, 79)
        XCTAssertEqual(decoded.count, expected.count)
        for (line, want) in zip(decoded, expected) { XCTAssertEqual(line, want) }
        XCTAssertFalse(decoded.contains { $0.hasSuffix(" error") })
    }
}
