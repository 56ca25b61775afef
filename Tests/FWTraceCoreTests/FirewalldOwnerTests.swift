import Foundation
import XCTest
@testable import FWTraceCore

/// firewalld 1.3.3's real ruleset (Fixtures/owners/firewalld): each traced decision names the
/// zone and the element as `firewall-cmd --list-all --zone=…` lists it.
final class FirewalldOwnerTests: XCTestCase {
    func state(_ f: OwnerFixture) -> ToolState {
        var state = ToolState()
        state.firewalldZones = (f.text("tool-firewall-cmd-list-all-zones.txt") ?? "") + "\n" + (f.text("tool-firewall-cmd-list-all-policies.txt") ?? "")
        return state
    }

    /// The same from the zones' XML files alone (what follow reads).
    func xmlState(_ f: OwnerFixture) throws -> ToolState {
        var state = ToolState()
        let files = try FileManager.default.contentsOfDirectory(atPath: f.directory.path).filter { $0.hasPrefix("tool-zone-") && $0.hasSuffix(".xml") }
        XCTAssertFalse(files.isEmpty)
        for file in files { state.addFirewalldZone(String(file.dropFirst(10).dropLast(4)), xml: try f.require(file)) }
        return state
    }

    /// The `--list-all` line of the zone that holds the value (e.g. "services: dhcpv6-client ssh").
    func listAll(_ f: OwnerFixture, zone: String, key: String) throws -> String {
        let text = try f.require("tool-firewall-cmd-list-all-zone-\(zone).txt")
        let lines = text.split(separator: "\n").map(String.init)
        let i = try XCTUnwrap(lines.firstIndex { $0.trimmingCharacters(in: .whitespaces).hasPrefix(key + ":") }, key)
        var value = lines[i]
        for next in lines[(i + 1)...] where next.hasPrefix("\t") { value += "\n" + next }
        return value
    }

    func testTracedDecisionsNameZoneAndElement() throws {
        let f = try OwnerFixture.load("firewalld")
        let cases: [(trace: String, zone: String, element: String, value: String, key: String)] = [
            ("v4-22-public-service-ssh", "public", "service", "ssh", "services"),
            ("v4-80-work-service-http", "work", "service", "http", "services"),
            ("v4-8443-public-port", "public", "port", "8443/tcp", "ports"),
            ("v6-8443-public-port", "public", "port", "8443/tcp", "ports"),
            ("v4-8080-work-source-port", "work", "port", "8080/tcp", "ports"),
            ("v4-9090-work-rich-rule", "work", "rich rule", #"rule family="ipv4" source address="10.77.0.9" port port="9090" protocol="tcp" accept"#, "rich rules"),
        ]
        for c in cases {
          for given in [state(f), try xmlState(f)] {
            let owner = try XCTUnwrap(try f.path(c.trace, state: given).decidingOwner, c.trace)
            XCTAssertEqual(owner.manager, .firewalld, c.trace)
            XCTAssertEqual(owner.text("zone"), c.zone, c.trace)
            XCTAssertEqual(owner.text("element"), c.element, c.trace)
            XCTAssertEqual(owner.text("value"), c.value, c.trace)
            XCTAssertTrue(try listAll(f, zone: c.zone, key: c.key).contains(c.value), "\(c.trace): firewall-cmd lists \(c.value)")
            XCTAssertEqual(owner.label, "firewalld zone \(c.zone): \(c.element) \(c.value)")
          }
        }
    }

    /// Without the zones' state the service still comes from firewalld's own definitions.
    func testServiceWithoutStateFromFirewalldsDefinitions() throws {
        let f = try OwnerFixture.load("firewalld")
        let owner = try XCTUnwrap(try f.path("v4-22-public-service-ssh").decidingOwner)
        XCTAssertEqual(owner.text("element"), "service")
        XCTAssertEqual(owner.text("value"), "ssh")
    }

    func testRejectedByTheZonesTarget() throws {
        let f = try OwnerFixture.load("firewalld")
        let path = try f.path("v4-8080-public-rejected", state: state(f))
        XCTAssertEqual(path.verdict, .reject)
        let owner = try XCTUnwrap(path.decidingOwner)
        XCTAssertEqual(owner.text("zone"), "public")
        XCTAssertEqual(owner.text("element"), "target")
        XCTAssertEqual(owner.text("value"), "default")
        XCTAssertTrue(try listAll(f, zone: "public", key: "target").contains("default"))
    }

    func testZoneBindingsAndForwardPort() throws {
        let f = try OwnerFixture.load("firewalld")
        let fromXML = try f.path("v4-8081-work-forward-port", state: xmlState(f))
        XCTAssertEqual(fromXML.steps.first { $0.chain == "nat_PRE_work_allow" && $0.kind == .rule }?.owner?.text("value"),
                       "port=8081:proto=tcp:toport=8080:toaddr=")
        let path = try f.path("v4-8081-work-forward-port", state: state(f))
        let forward = try XCTUnwrap(path.steps.first { $0.chain == "nat_PRE_work_allow" && $0.kind == .rule })
        XCTAssertEqual(forward.owner?.text("element"), "forward-port")
        XCTAssertEqual(forward.owner?.text("value"), "port=8081:proto=tcp:toport=8080:toaddr=")
        XCTAssertTrue(try listAll(f, zone: "work", key: "forward-ports").contains("port=8081:proto=tcp:toport=8080:toaddr="))
        // The source binding that took the packet into zone work.
        let binding = try XCTUnwrap(path.steps.first { $0.chain == "filter_INPUT_ZONES" || $0.chain == "nat_PREROUTING_ZONES" })
        XCTAssertEqual(binding.owner?.text("element"), "source")
        XCTAssertEqual(binding.owner?.text("value"), "10.77.0.8/29")
        XCTAssertTrue(try listAll(f, zone: "work", key: "sources").contains("10.77.0.8/29"))
        for step in path.steps where step.table == "firewalld" { XCTAssertEqual(step.owner?.manager, .firewalld, step.chain) }
        let owners = f.owners(state(f))
        let zones = try XCTUnwrap(f.catalog.chain(.inet, "firewalld", "filter_INPUT_ZONES"))
        let interface = try XCTUnwrap(owners.owner(.inet, "firewalld", "filter_INPUT_ZONES", position: 2))
        XCTAssertEqual(zones.rules.count, 3)
        XCTAssertEqual(interface.text("element"), "interface")
        XCTAssertEqual(interface.text("value"), "o0")
        XCTAssertEqual(owners.owner(.inet, "firewalld", "filter_INPUT_ZONES", position: 3)?.text("element"), "default zone")
    }

    func testMasqueradeAndIcmpBlock() throws {
        let f = try OwnerFixture.load("firewalld")
        let facts = OwnerMap(ruleset: f.catalog, state: state(f))
        func elements(_ chain: String) -> [String] {
            let count = f.catalog.chain(.inet, "firewalld", chain)?.rules.count ?? 0
            return (0..<count).compactMap { facts.owner(.inet, "firewalld", chain, position: $0 + 1)?.text("element") }
        }
        XCTAssertTrue(elements("nat_POST_work_allow").contains("masquerade"))
        XCTAssertTrue(try listAll(f, zone: "work", key: "masquerade").contains("yes"))
        XCTAssertTrue(elements("filter_IN_work_deny").contains("icmp-block"))
        XCTAssertTrue(try listAll(f, zone: "work", key: "icmp-blocks").contains("echo-request"))
    }
}
