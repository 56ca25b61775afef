import XCTest
@testable import FWTraceCore

/// The kernel runs base chains of equal priority newest first (nf_hook_entries_grow in
/// net/netfilter/core.c). The listing is the layout `nft -a list ruleset` printed on kernel 6.18
/// for: `table inet aaa` (a regular chain), `table inet zzz` with an input chain, then
/// `nft add chain inet aaa late { type filter hook input priority 0; }`.
final class BaseChainOrderTests: XCTestCase {
    let listing = """
    table inet aaa { # handle 1
    \tchain unused { # handle 1
    \t}

    \tchain late { # handle 3
    \t\ttype filter hook input priority filter; policy accept;
    \t}
    }
    table inet zzz { # handle 2
    \tchain input { # handle 1
    \t\ttype filter hook input priority filter; policy accept;
    \t}

    \tchain early { # handle 2
    \t\ttype filter hook input priority -10; policy accept;
    \t}
    }
    table ip filter { # handle 3
    \tchain INPUT { # handle 1
    \t\ttype filter hook input priority filter; policy accept;
    \t}
    }
    """

    func names(_ c: Ruleset, _ family: PacketSummary.Family = .ip) -> [String] {
        c.baseChains(at: .input, for: family).map { "\($0.key.table)/\($0.key.chain)" }
    }

    func testPriorityThenNewerTableThenNewerChain() {
        let c = Ruleset.build(nftListing: listing)
        XCTAssertEqual(names(c), ["zzz/early", "filter/INPUT", "zzz/input", "aaa/late"])
        XCTAssertEqual(names(c, .ip6), ["zzz/early", "zzz/input", "aaa/late"])
        XCTAssertTrue(c.hasEqualPriorityPeer(.init(family: .inet, table: "aaa", chain: "late")))
        XCTAssertFalse(c.hasEqualPriorityPeer(.init(family: .inet, table: "zzz", chain: "early")))
    }

    /// A dormant table's chains are not registered: no packet meets them.
    func testDormantTablesHaveNoBaseChains() {
        let dormant = listing.replacingOccurrences(of: "table inet zzz { # handle 2\n", with: "table inet zzz { # handle 2\n\tflags dormant\n")
        XCTAssertEqual(names(Ruleset.build(nftListing: dormant)), ["filter/INPUT", "aaa/late"])
    }

    func testWithoutHandlesTheListingOrderIsCreationOrder() {
        let bare = listing.replacingOccurrences(of: #" # handle [0-9]+"#, with: "", options: .regularExpression)
        XCTAssertEqual(names(Ruleset.build(nftListing: bare)), ["zzz/early", "filter/INPUT", "zzz/input", "aaa/late"])
    }

    /// aaa/late was added after zzz existed: the kernel runs it before zzz/input, which the
    /// handles cannot tell. What a trace showed moves it, and survives a reload.
    func testWhatTheTraceShowedCorrectsThePairAndSurvivesAReload() {
        var c = Ruleset.build(nftListing: listing)
        let late = Ruleset.ChainKey(family: .inet, table: "aaa", chain: "late")
        let input = Ruleset.ChainKey(family: .inet, table: "zzz", chain: "input")
        XCTAssertTrue(c.noteKernelRan(late, before: input, at: .input, for: .ip))
        XCTAssertEqual(names(c), ["zzz/early", "filter/INPUT", "aaa/late", "zzz/input"])
        XCTAssertFalse(c.noteKernelRan(late, before: input, at: .input, for: .ip), "already so")
        // Different priorities are never reordered.
        XCTAssertFalse(c.noteKernelRan(input, before: .init(family: .inet, table: "zzz", chain: "early"), at: .input, for: .ip))
        var reloaded = Ruleset.build(nftListing: listing)
        reloaded.adoptLearnedOrder(from: c)
        XCTAssertEqual(names(reloaded), ["zzz/early", "filter/INPUT", "aaa/late", "zzz/input"])
        XCTAssertEqual(reloaded.learnedOrder, c.learnedOrder)
    }
}
