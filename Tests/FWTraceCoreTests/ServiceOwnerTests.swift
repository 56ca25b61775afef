import XCTest
@testable import FWTraceCore

/// fail2ban 1.0.2, Shorewall 5.2.8 (real), kube-proxy v1.28.0's iptables rules as its code
/// writes them, libvirt's rules as its source writes them (Fixtures/owners/…).
final class ServiceOwnerTests: XCTestCase {
    /// `fail2ban-client status sshd`'s "Banned IP list:".
    func banned(_ f: OwnerFixture) throws -> [String] {
        let line = try XCTUnwrap(try f.require("tool-fail2ban-client-status-sshd.txt").split(separator: "\n").first { $0.contains("Banned IP list:") })
        return line.split(separator: "\t").last!.split(separator: " ").map(String.init)
    }

    func testFail2banBanNamesItsJailAndAddress() throws {
        let f = try OwnerFixture.load("fail2ban")
        for (trace, address) in [("v4-22-from-banned-10.77.0.9", "10.77.0.9"), ("v6-8080-from-banned-fd77-9", "fd77::9")] {
            let path = try f.path(trace)
            XCTAssertEqual(path.verdict, .reject)
            let owner = try XCTUnwrap(path.decidingOwner, trace)
            XCTAssertEqual(owner.manager, .fail2ban)
            XCTAssertEqual(owner.text("jail"), "sshd")
            XCTAssertEqual(owner.text("banned"), address)
            XCTAssertTrue(try banned(f).contains(address), "fail2ban-client lists \(address)")
            XCTAssertEqual(path.step(inChain: "INPUT")?.owner?.text("jail"), "sshd")   // the hook
        }
        let free = try f.path("v4-8080-not-banned")
        XCTAssertEqual(free.step(inChain: "f2b-sshd")?.owner?.text("jail"), "sshd")
        XCTAssertNil(free.decidingOwner)                                             // INPUT's policy: the admin's
    }

    func testFail2banNftablesSetNamesItsJail() throws {
        let f = try OwnerFixture.load("fail2ban-nftables")
        for trace in ["v4-22-from-banned-10.77.0.9", "v6-8080-from-banned-fd77-9"] {
            let owner = try XCTUnwrap(try f.path(trace).decidingOwner, trace)
            XCTAssertEqual(owner.manager, .fail2ban)
            XCTAssertEqual(owner.text("jail"), "sshd")
        }
        XCTAssertEqual(try f.path("v4-8080-not-banned").decidingOwner?.manager, .fail2ban)   // f2b-chain's policy
    }

    func testKubeProxyServiceAndEndpoint() throws {
        let f = try OwnerFixture.load("kube-proxy")
        let path = try f.path("v4-nodeport-30080-endpoint")
        let dnat = try XCTUnwrap(path.steps.first { $0.chain.hasPrefix("KUBE-SEP-") && $0.kind == .rule })
        XCTAssertEqual(dnat.owner?.text("service"), "default/web:http")
        XCTAssertEqual(dnat.owner?.text("endpoint"), "10.244.0.5:8080")
        XCTAssertEqual(path.step(inChain: "KUBE-NODEPORTS")?.owner?.text("service"), "default/web:http")
        XCTAssertEqual(path.steps.first { $0.chain.hasPrefix("KUBE-SVC-") }?.owner?.text("endpoint"), "10.244.0.5:8080")
        for step in path.steps where step.chain.hasPrefix("KUBE-") || step.kind != .policy {
            XCTAssertEqual(step.owner?.manager, .kubeProxy, step.chain)
        }
        let rejected = try f.path("v4-nodeport-30081-no-endpoints")
        XCTAssertEqual(rejected.verdict, .reject)
        let owner = try XCTUnwrap(rejected.decidingOwner)
        XCTAssertEqual(owner.text("service"), "default/empty:http")
        XCTAssertEqual(owner.text("element"), "has no endpoints")
    }

    func testShorewallZonePairsAndPolicy() throws {
        for tool in ["shorewall", "shorewall-legacy"] {
            let f = try OwnerFixture.load(tool)
            let state: ToolState = { var s = ToolState(); s.shorewallZones = f.text("tool-etc-shorewall-zones.txt"); return s }()
            for withZones in [true, false] {
                let accepted = try f.path("v4-8080-rule-accept", state: withZones ? state : ToolState())
                let owner = try XCTUnwrap(accepted.decidingOwner, tool)
                XCTAssertEqual(owner.manager, .shorewall)
                XCTAssertEqual(owner.text("from_zone"), "net")
                XCTAssertEqual(owner.text("to_zone"), "fw")
                XCTAssertEqual(owner.label, "shorewall net→fw")
                let dropped = try f.path("v4-9999-policy-net-fw-drop", state: withZones ? state : ToolState())
                XCTAssertEqual(dropped.decidingOwner?.text("policy"), "DROP")
                XCTAssertEqual(dropped.decidingOwner?.label, "shorewall policy net→fw DROP")
                // `shorewall show policies`: "net => fw DROP using chain net-fw".
                XCTAssertTrue(try f.require("tool-shorewall-show-policies.txt").contains("net \t=>\tfw\tDROP"))
                for step in dropped.steps { XCTAssertEqual(step.owner?.manager, .shorewall, "\(tool) \(step.table)/\(step.chain)") }
            }
        }
    }

    /// libvirt 9's iptables rules for its default network (src/util/viriptables.c), and the
    /// network's XML: not captured (libvirt is not on these machines), written as the code does.
    func testLibvirtNetworkFromItsBridge() {
        let save = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :LIBVIRT_FWI - [0:0]
        :LIBVIRT_FWO - [0:0]
        :LIBVIRT_INP - [0:0]
        -A INPUT -j LIBVIRT_INP
        -A FORWARD -j LIBVIRT_FWI
        -A LIBVIRT_FWI -d 192.168.122.0/24 -o virbr0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A LIBVIRT_FWI -o virbr0 -j REJECT --reject-with icmp-port-unreachable
        -A LIBVIRT_INP -i virbr0 -p udp -m udp --dport 53 -j ACCEPT
        COMMIT
        """
        var state = ToolState()
        state.libvirtNetworks = ["<network><name>default</name><bridge name='virbr0' stp='on' delay='0'/></network>"]
        let owners = OwnerMap(ruleset: Ruleset.parse(iptablesSave: save), state: state)
        XCTAssertEqual(owners.owner(.ip, "filter", "LIBVIRT_FWI", position: 2)?.text("network"), "default")
        XCTAssertEqual(owners.owner(.ip, "filter", "LIBVIRT_FWI", position: 2)?.label, "libvirt network default")
        XCTAssertEqual(owners.owner(.ip, "filter", "INPUT", position: 1)?.manager, .libvirt)
        XCTAssertNil(owners.policyOwner(.ip, "filter", "INPUT"))
    }
}
