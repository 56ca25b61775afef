import XCTest
@testable import FWTraceCore

final class RuleCatalogTests: XCTestCase {
    let listing = """
    table ip filter { # handle 1
    \tchain fail2ban-SSH { # handle 1
    \t\tip saddr 10.99.0.66 counter packets 3 bytes 180 reject # handle 2
    \t}
    \tchain INPUT { # handle 4
    \t\ttype filter hook input priority 0; policy accept;
    \t\ttcp dport 22 counter packets 0 bytes 0 jump fail2ban-SSH # handle 5
    \t\tcounter packets 7 bytes 420 reject with icmp type host-prohibited # handle 11
    \t}
    }
    table inet web { # handle 9
    \tset allowed { # handle 3
    \t\ttype inet_service
    \t\telements = { 22, 80 }
    \t}
    \tchain input { # handle 1
    \t\ttype filter hook input priority 10; policy drop;
    \t\tcomment "a # handle 99 in a comment"
    \t\ttcp dport @allowed accept comment "x # handle 3" # handle 8
    \t}
    \tchain pre { # handle 2
    \t\ttype nat hook prerouting priority -100; policy accept;
    \t}
    }
    """

    let save = """
    *filter
    :INPUT ACCEPT [0:0]
    :fail2ban-SSH - [0:0]
    -A INPUT -p tcp -m tcp --dport 22 -j fail2ban-SSH
    -A INPUT -j REJECT --reject-with icmp-host-prohibited
    -A fail2ban-SSH -s 10.99.0.66/32 -j REJECT --reject-with icmp-port-unreachable
    COMMIT
    """

    func testPositionsTextCountersAndHooks() {
        let c = RuleCatalog.build(nftListing: listing, iptablesSave: [.ip: save])
        let reject = c.rule(family: .ip, table: "filter", handle: 11)
        XCTAssertEqual(reject?.position, 2)
        XCTAssertEqual(reject?.text, "-A INPUT -j REJECT --reject-with icmp-host-prohibited")
        XCTAssertEqual(reject?.syntax, .iptables)
        XCTAssertEqual(reject?.nftText, "counter reject with icmp type host-prohibited")
        XCTAssertEqual(reject?.counters, .init(packets: 7, bytes: 420))
        XCTAssertEqual(reject?.rejects, true)
        XCTAssertEqual(c.rule(family: .ip, table: "filter", handle: 2)?.chain, "fail2ban-SSH")
        let native = c.rule(family: .inet, table: "web", handle: 8)
        XCTAssertEqual(native?.text, "tcp dport @allowed accept comment \"x # handle 3\"")
        XCTAssertEqual(native?.position, 1)
        XCTAssertEqual(native?.syntax, .nft)
        XCTAssertNil(c.rule(family: .inet, table: "web", handle: 3))   // a set is not a rule
        XCTAssertEqual(c.chain(family: .ip, table: "filter", chain: "INPUT")?.hook, .input)
        XCTAssertEqual(c.chain(family: .inet, table: "web", chain: "pre")?.type, .nat)
        XCTAssertEqual(c.chain(family: .inet, table: "web", chain: "pre")?.priority, -100)
        XCTAssertEqual(c.chain(family: .inet, table: "web", chain: "input")?.policy, "drop")
        XCTAssertFalse(c.chain(family: .ip, table: "filter", chain: "fail2ban-SSH")!.isBaseChain)
        XCTAssertEqual(c.baseChains(at: .input, for: .ip).map(\.key.table), ["filter", "web"])
        XCTAssertEqual(c.baseChains(at: .input, for: .ip6).map(\.key.table), ["web"])
    }

    func testNamedPriorities() {
        XCTAssertEqual(RuleCatalog.parsePriority("filter"), 0)
        XCTAssertEqual(RuleCatalog.parsePriority("raw"), -300)
        XCTAssertEqual(RuleCatalog.parsePriority("mangle - 5"), -155)
        XCTAssertEqual(RuleCatalog.parsePriority("srcnat + 10"), 110)
        XCTAssertEqual(RuleCatalog.parsePriority("-350"), -350)
    }

    func testMismatchedRuleCountKeepsNftTextRatherThanGuess() {
        let shortSave = save.replacingOccurrences(of: "-A INPUT -j REJECT --reject-with icmp-host-prohibited\n", with: "")
        let c = RuleCatalog.build(nftListing: listing, iptablesSave: [.ip: shortSave])
        XCTAssertEqual(c.rule(family: .ip, table: "filter", handle: 11)?.text, "counter reject with icmp type host-prohibited")
        XCTAssertEqual(c.rule(family: .ip, table: "filter", handle: 11)?.syntax, .nft)
    }

    func testIptablesSaveWithCounters() {
        let withCounters = save.replacingOccurrences(of: "-A INPUT -j", with: "[5:300] -A INPUT -j")
        let c = RuleCatalog.build(nftListing: listing, iptablesSave: [.ip: withCounters])
        XCTAssertEqual(c.rule(family: .ip, table: "filter", handle: 11)?.text, "-A INPUT -j REJECT --reject-with icmp-host-prohibited")
    }

    /// nftables' examples/sets_and_maps.nft loaded in a namespace: `iptables-nft-save` 1.8.9 (Debian
    /// 12) printed this for it (captured 2026-12-01), a partial rendering of a table it calls
    /// incompatible. Its rules must keep their nft text.
    func testTableTheSaveToolCallsIncompatibleKeepsNftSyntax() {
        let listing = """
        table ip filter { # handle 3
        \tchain input_1 { # handle 1
        \t\tcounter packets 0 bytes 0 # handle 7
        \t}
        \tchain input { # handle 3
        \t\ttype filter hook input priority filter; policy accept;
        \t\tiif @local_ifs counter packets 0 bytes 0 # handle 14
        \t}
        }
        """
        let save = """
        # Table `filter' contains incompatible base-chains, use 'nft' tool to list them.
        # Generated by iptables-nft-save v1.8.9 (nf_tables) on Tue Dec  1 23:49:59 2026
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :input_1 - [0:0]
        :input_2 - [0:0]
        -A input_1
        -A input_2
        COMMIT
        """
        let c = RuleCatalog.build(nftListing: listing, iptablesSave: [.ip: save])
        XCTAssertEqual(c.rule(family: .ip, table: "filter", handle: 7)?.text, "counter")
        XCTAssertEqual(c.rule(family: .ip, table: "filter", handle: 7)?.syntax, .nft)
        XCTAssertEqual(c.rule(family: .ip, table: "filter", handle: 14)?.syntax, .nft)
        XCTAssertFalse(c.isIptablesTable(family: .ip, table: "filter"))
        // The older wording of the same comment.
        let older = "# Table `filter' is incompatible, use 'nft' tool.\n" + save.split(separator: "\n").dropFirst().joined(separator: "\n")
        XCTAssertEqual(RuleCatalog.build(nftListing: listing, iptablesSave: [.ip: older]).rule(family: .ip, table: "filter", handle: 7)?.syntax, .nft)
    }
}
