import Foundation
import XCTest
@testable import FWTraceCore

/// The pieces of the JSON ruleset read on libnftables releases that cannot print a one-flag table
/// (RulesetReader.loadJSON): which releases those are, and that listings read one chain and one
/// set at a time make the same Ruleset as one `list ruleset`.
final class NftListingTests: XCTestCase {
    func testReleasesWithTheOneFlagTableUseAfterFree() {
        for affected in ["0.9.0", "0.9.3", "1.0.2", "1.0.6", "1.0.7", "1.0.8", "1.0.9"] {
            XCTAssertEqual(LibnftablesRelease(affected)?.printsSingleFlagTablesSafely, false, affected)
        }
        for fixed in ["1.0.6.1", "1.0.6.2", "1.1.0", "1.1.1", "1.1.6", "1.2", "2.0.0"] {
            XCTAssertEqual(LibnftablesRelease(fixed)?.printsSingleFlagTablesSafely, true, fixed)
        }
        // Not a release number: nil, which RulesetReader takes for an affected release.
        for odd in [nil, "", "1.0.6-2+deb12u2", "v1.1.0", "1..0", "x"] as [String?] {
            XCTAssertNil(LibnftablesRelease(odd), odd ?? "nil")
        }
        XCTAssertEqual(LibnftablesRelease("1.0.6"), LibnftablesRelease("1.0.6.0"))
        XCTAssertLessThan(LibnftablesRelease("1.0.10")!, LibnftablesRelease("1.1.0")!)
        XCTAssertLessThan(LibnftablesRelease("1.0.9")!, LibnftablesRelease("1.0.10")!)
    }

    func testMetainfoVersionAndObjectsOfAListing() throws {
        let listing = try NftListing(json: """
        {"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
          {"chain": {"family": "inet", "table": "t", "name": "c", "handle": 1}},
          {"chain": {"family": "ip", "table": "filter", "name": "a \\"b\\" c", "handle": 2}},
          {"chain": {"family": "ip", "name": "no-table"}},
          {"set": {"family": "inet", "table": "t", "name": "s", "type": "ipv4_addr", "handle": 3}}]}
        """)
        XCTAssertEqual(listing.version, "1.0.6")
        XCTAssertEqual(listing.items.count, 4)
        XCTAssertEqual(listing.objects("chain").map { "\($0.family) \($0.table) \($0.name)" }, ["inet t c", "ip filter a \"b\" c"])
        XCTAssertEqual(listing.objects("set").map(\.name), ["s"])
        XCTAssertThrowsError(try NftListing(json: "{\"nftables\": 1}"))
    }

    /// The rich fixture (a `list ruleset`) cut the way the table-less read gets it: one listing per
    /// chain (the chain and its rules) and one per set, each with its metainfo and no table.
    func testListingsReadPieceByPieceMakeTheSameRuleset() throws {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/kernel-6.18-nft-native-rich.ruleset.json")
        let text = try String(contentsOf: url, encoding: .utf8)
        let whole = try Ruleset.parse(nftJSON: text)
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let objects = try XCTUnwrap(root["nftables"] as? [[String: Any]])
        let metainfo = try XCTUnwrap(objects.first { $0["metainfo"] != nil })
        func document(_ items: [[String: Any]]) throws -> NftListing {
            let data = try JSONSerialization.data(withJSONObject: ["nftables": [metainfo] + items])
            return try NftListing(json: String(decoding: data, as: UTF8.self))
        }
        var listings: [NftListing] = []
        for chain in objects.compactMap({ $0["chain"] as? [String: Any] }) {
            let rules = objects.filter { ($0["rule"] as? [String: Any])?["chain"] as? String == chain["name"] as? String }
            listings.append(try document([["chain": chain]] + rules))
        }
        for set in objects where set["set"] != nil || set["map"] != nil { listings.append(try document([set])) }
        XCTAssertEqual(listings.count, 5)
        let pieces = Ruleset(nftJSON: listings)
        XCTAssertEqual(pieces, whole)
        XCTAssertEqual(pieces.chainsInListingOrder.map(\.key.chain), whole.chainsInListingOrder.map(\.key.chain))
        XCTAssertEqual(pieces.chains.values.reduce(0) { $0 + $1.rules.count }, 13)
        XCTAssertEqual(pieces.setElements(.inet, "web", "allowed")?.isEmpty, false)
    }
}
