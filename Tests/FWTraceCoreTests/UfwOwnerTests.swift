import XCTest
@testable import FWTraceCore

/// ufw 0.36.2's real rulesets (Fixtures/owners/ufw, ufw-docker, ufw-podman): owners and the
/// identity `ufw status numbered` gives.
final class UfwOwnerTests: XCTestCase {
    func state(_ f: OwnerFixture, status: Bool = true) -> ToolState {
        var state = ToolState()
        state.ufwUserRules = f.text("tool-etc-ufw-user.rules.txt")
        state.ufwUserRules6 = f.text("tool-etc-ufw-user6.rules.txt")
        if status { state.ufwStatusNumbered = f.text("tool-ufw-status-numbered.txt") }
        return state
    }

    /// The numbers and texts derived from the tuples alone equal what `ufw status numbered` printed.
    func testTupleNumbersAndTextsEqualUfwStatusNumbered() throws {
        for tool in ["ufw", "ufw-docker", "ufw-podman"] {
            let f = try OwnerFixture.load(tool)
            let status = UfwStatusText.parse(try f.require("tool-ufw-status-numbered.txt"))
            let user = UfwUserRules(v4: f.text("tool-etc-ufw-user.rules.txt"), v6: f.text("tool-etc-ufw-user6.rules.txt"))
            XCTAssertFalse(status.isEmpty, tool)
            var rendered: [Int: String] = [:]
            for tuple in user.tuples where rendered[tuple.number] == nil { rendered[tuple.number] = UfwStatusText.render(tuple) }
            if f.text("tool-etc-ufw-user6.rules.txt") != nil {
                XCTAssertEqual(rendered, status, tool)
            } else {
                // Without user6.rules (ufw-docker's folder) only the IPv4 rules are known.
                XCTAssertEqual(rendered, status.filter { rendered[$0.key] != nil }, tool)
                XCTAssertFalse(rendered.isEmpty, tool)
            }
        }
    }

    /// Every iptables rule of ufw-user-input carries the number of the tuple it was written under.
    func testUserChainRulesCarryTheirTupleNumber() throws {
        let f = try OwnerFixture.load("ufw")
        let owners = f.owners(state(f))
        let expected = [1, 2, 3, 3, 3, 4, 5]   // rule 3 (limit) is three iptables rules
        for (i, number) in expected.enumerated() {
            let owner = try XCTUnwrap(owners.owner(.ip, "filter", "ufw-user-input", position: i + 1))
            XCTAssertEqual(owner.manager, .ufw)
            XCTAssertEqual(owner["rule"], .number(number), "position \(i + 1)")
            XCTAssertEqual(owner.text("file"), "user.rules")
        }
        XCTAssertEqual(owners.owner(.ip, "filter", "ufw-user-forward", position: 1)?["rule"], .number(6))
        XCTAssertEqual(owners.owner(.ip6, "filter", "ufw6-user-input", position: 1)?.text("text"), "8080/tcp ALLOW IN fd77::/64")
        XCTAssertEqual(owners.owner(.ip6, "filter", "ufw6-user-input", position: 1)?.text("file"), "user6.rules")
    }

    func testTracedPathsNameUfwRules() throws {
        let f = try OwnerFixture.load("ufw")
        let cases: [(String, Int, String)] = [
            ("v4-8080-allowed-rule1", 1, "8080/tcp ALLOW IN 10.77.0.0/24"),
            ("v4-22-denied-rule2", 2, "22/tcp DENY IN Anywhere"),
            ("v4-80-from-10.77.0.9-deny-shadowed", 4, "80/tcp ALLOW IN Anywhere"),
            ("v4-80-allowed", 4, "80/tcp ALLOW IN Anywhere"),
            ("v6-8080-allowed", 7, "8080/tcp ALLOW IN fd77::/64"),
        ]
        for (trace, number, text) in cases {
            for withStatus in [true, false] {
                let path = try f.path(trace, state: state(f, status: withStatus))
                let owner = try XCTUnwrap(path.decidingOwner, trace)
                XCTAssertEqual(owner.manager, .ufw, trace)
                XCTAssertEqual(owner["rule"], .number(number), trace)
                XCTAssertEqual(owner.text("text"), text, trace)
                XCTAssertEqual(owner.label, "ufw rule \(number): \(text)")
            }
        }
    }

    func testEveryStepOfAUfwPathHasAnOwner() throws {
        let f = try OwnerFixture.load("ufw")
        let path = try f.path("v4-2222-limit-accepted", state: state(f))
        for step in path.steps where step.table == "filter" {
            XCTAssertEqual(step.owner?.manager, .ufw, "\(step.chain) #\(step.rule ?? 0)")
        }
        // The jumps from INPUT are ufw's init script's; the user chain's steps are rule 3's.
        XCTAssertEqual(path.step(inChain: "INPUT")?.owner?.text("file"), "ufw-init")
        XCTAssertEqual(path.steps.first { $0.chain == "ufw-user-input" && $0.kind != .return }?.owner?["rule"], .number(3))
        XCTAssertEqual(path.step(inChain: "ufw-before-input")?.owner?.text("file"), "before.rules")
    }

    func testDefaultDenyIsUfwsDefaultPolicy() throws {
        let f = try OwnerFixture.load("ufw")
        let path = try f.path("v4-9999-default-deny", state: state(f))
        let decided = try XCTUnwrap(path.decidingStep)
        XCTAssertEqual(decided.kind, .policy)
        XCTAssertEqual(decided.owner?.text("default"), "deny (incoming)")   // `ufw status verbose`: "deny (incoming)"
        XCTAssertTrue(try f.require("tool-ufw-status-verbose.txt").contains("deny (incoming)"))
    }

    /// ufw denies 8080, yet Docker's FORWARD rules accept the published port first.
    func testUfwDockerPublishedPortIsDockersRule() throws {
        let f = try OwnerFixture.load("ufw-docker")
        let path = try f.path("v4-8080-ufw-denies-docker-accepts", state: state(f))
        XCTAssertEqual(path.verdict, .accept)
        let owner = try XCTUnwrap(path.decidingOwner)
        XCTAssertEqual(owner.manager, .docker)
        XCTAssertEqual(owner.text("port"), "8080/tcp")
        let dnat = try XCTUnwrap(path.steps.first { $0.nat != nil })
        XCTAssertEqual(dnat.owner?.manager, .docker)
        XCTAssertEqual(dnat.owner?.text("port"), "8080/tcp")
    }

    func testUnmanagedRulesHaveNoOwner() throws {
        let catalog = Ruleset.build(nftListing: """
        table ip filter { # handle 1
        \tchain INPUT { # handle 1
        \t\ttype filter hook input priority filter; policy accept;
        \t\ttcp dport 22 accept # handle 2
        \t}
        }
        """)
        XCTAssertTrue(OwnerMap(ruleset: catalog).isEmpty)
    }

    /// explain's predicted path gets its owners from the map, step by step.
    func testAnnotatedPathOfExplain() throws {
        let f = try OwnerFixture.load("ufw")
        var path = PacketPath(traceID: 0, family: .ip, time: 0,
                              packet: PacketSummary(family: .ip, src: .v4(0), dst: .v4(0), protocolNumber: 6, length: 60, ttl: 64))
        var rule = PathStep(hook: .input, table: "filter", tableFamily: .ip, chain: "ufw-user-input", kind: .rule, verdict: .drop)
        rule.rule = 2
        path.steps = [rule, PathStep(hook: .input, table: "filter", tableFamily: .ip, chain: "INPUT", kind: .policy, verdict: .drop),
                      PathStep(hook: .input, table: "filter", tableFamily: .ip, chain: "ufw-not-local", kind: .return, verdict: .return)]
        f.owners(state(f)).annotate(&path)
        XCTAssertEqual(path.steps.map { $0.owner?.label }, ["ufw rule 2: 22/tcp DENY IN Anywhere", "ufw default deny (incoming)", "ufw before.rules"])
    }
}
