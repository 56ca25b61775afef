import Foundation
import XCTest
@testable import FWTraceCore

/// What explain reads of the namespace (ip -j addr, /proc/net/xt_recent) and how it reports its
/// assumptions and the match it could not decide.
final class ExplainNotesTests: XCTestCase {
    func testParsesIpJsonRecentListsAndOwnAddresses() throws {
        let ip = #"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},"# +
            #"{"ifindex":2,"ifname":"o0","addr_info":[{"family":"inet","local":"10.77.0.1","prefixlen":24},{"family":"inet6","local":"fd77::1","prefixlen":64}]}]"#
        let addresses = NamespaceState.localAddresses(ipJSON: ip)
        XCTAssertEqual(addresses.map(\.interface), ["lo", "o0", "o0"])
        XCTAssertEqual(addresses.map(\.prefix.description), ["127.0.0.1/8", "10.77.0.1/24", "fd77::1/64"])
        XCTAssertEqual(NamespaceState.localAddresses(ipJSON: "not json"), [])

        let proc = """
        src=10.77.0.2 ttl: 64 last_seen: 4302606560 oldest_pkt: 2 4302601000, 4302606560
        src=10.77.0.9 ttl: 64 last_seen: 4302601000 oldest_pkt: 1 4302601000
        """
        XCTAssertEqual(NamespaceState.recentList(proc), [IPAddress("10.77.0.2")!: 2, IPAddress("10.77.0.9")!: 1])

        XCTAssertEqual(NamespaceState.ownAddress("10.0.0.5/24@eth0"),
                       MatchEnvironment.LocalAddress(interface: "eth0", prefix: IPPrefix("10.0.0.5/24")!))
        XCTAssertEqual(NamespaceState.ownAddress("fd77::1")?.prefix.length, 128)
        XCTAssertNil(NamespaceState.ownAddress("10.0.0.5/24@"))
        XCTAssertNil(NamespaceState.ownAddress("eth0"))
    }

    /// ufw's `limit 2222/tcp` offline: the recent list is not read, so its emptiness is assumed
    /// and said; the prediction still agrees with the kernel (ExplainAgainstFollowTests).
    func testUfwLimitStatesItsRecentAssumption() throws {
        let dir = KernelFixture.directory().appendingPathComponent("owners/ufw")
        let record = try ExplainAgainstFollowTests.pathRecord(dir.appendingPathComponent("trace-v4-2222-limit-accepted.jsonl"))
        let prediction = try ExplainAgainstFollowTests.predict(record, in: dir)
        XCTAssertEqual(prediction.path.verdict, .accept)
        let recent = try XCTUnwrap(prediction.assumptions.first { $0.assumption.match.hasPrefix("-m recent --update") })
        XCTAssertEqual(recent.step.chain, "ufw-user-input")
        XCTAssertTrue(recent.assumption.assumed.contains("list DEFAULT held no earlier hit from 10.77.0.2"), recent.assumption.assumed)
        XCTAssertTrue(prediction.noteLines.contains { $0.hasPrefix("  assumed: filter/ufw-user-input rule 4: `-m recent --update") },
                      "\(prediction.noteLines)")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(("{\"predicted\":true" + prediction.noteMembers + "}").utf8)) as? [String: Any])
        let assumptions = try XCTUnwrap(object["assumptions"] as? [[String: Any]])
        XCTAssertEqual(assumptions.first { ($0["match"] as? String)?.hasPrefix("-m recent") == true }?["rule"] as? Int, 4)
        XCTAssertNil(object["unknown_at"])
    }

    /// Without the namespace's addresses, ufw's `-m addrtype --dst-type LOCAL` cannot be decided:
    /// explain stops there and names the match.
    func testAnUndecidableMatchIsNamed() throws {
        let dir = KernelFixture.directory().appendingPathComponent("owners/ufw")
        let record = try ExplainAgainstFollowTests.pathRecord(dir.appendingPathComponent("trace-v4-22-denied-rule2.jsonl"))
        let p = try XCTUnwrap(record["packet"] as? [String: Any])
        var ruleset = Ruleset.build(nftListing: ExplainAgainstFollowTests.text(dir, "ruleset.nft.txt"),
                                    iptablesSave: [.ip: ExplainAgainstFollowTests.text(dir, "iptables-nft-save.txt")])
        ruleset.addNftJSON([try NftListing(json: ExplainAgainstFollowTests.text(dir, "ruleset.json"))])
        var predictor = PathPredictor(nft: ruleset, family: .ip, localAddresses: [IPAddress("10.77.0.1")!])
        predictor.environment.localAddresses = nil
        var packet = PacketSummary(family: .ip, src: IPAddress("10.77.0.2")!, dst: IPAddress("10.77.0.1")!, protocolNumber: 6, length: 60, ttl: 64)
        packet.sport = 40000; packet.dport = 22; packet.tcpFlags = 0x02
        let prediction = predictor.predict(packet, iif: p["iif"] as? String, oif: nil, ctState: .new)
        XCTAssertEqual(prediction.path.verdict, .unknown)
        XCTAssertEqual(prediction.unknownAt?.chain, "ufw-not-local")
        XCTAssertEqual(prediction.unknownMatch, "-m addrtype --dst-type LOCAL")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(("{" + prediction.noteMembers.dropFirst() + "}").utf8)) as? [String: Any])
        XCTAssertEqual((object["unknown_at"] as? [String: Any])?["match"] as? String, "-m addrtype --dst-type LOCAL")
        XCTAssertTrue(prediction.noteLines.last?.contains("cannot evaluate (`-m addrtype --dst-type LOCAL`)") == true, "\(prediction.noteLines)")
    }
}
