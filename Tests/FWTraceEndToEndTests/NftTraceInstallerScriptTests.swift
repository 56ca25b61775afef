import Foundation
import XCTest
@testable import FWTraceCore
@testable import FWTraceKernel

/// The trace table's script when the ruleset has ingress chains (no kernel: the text only).
final class NftTraceInstallerScriptTests: XCTestCase {
    func testIngressDevicesOfTheListing() {
        let listing = """
        table netdev edge {
        \tchain in {
        \t\ttype filter hook ingress device "eth0" priority filter; policy accept;
        \t}
        \tchain many {
        \t\ttype filter hook ingress devices = { "veth1", veth2 } priority -10; policy accept;
        \t}
        }
        table inet filter {
        \tchain early {
        \t\ttype filter hook ingress device "eth0" priority 5; policy accept;
        \t}
        \tchain input {
        \t\ttype filter hook input priority filter; policy accept;
        \t}
        }
        table netdev fwtrace_1234abcd {
        \tchain in0 {
        \t\ttype filter hook ingress device "other" priority -2147483648; policy accept;
        \t}
        }
        table netdev odd {
        \tchain in {
        \t\ttype filter hook ingress device "a\\"b" priority 0; policy accept;
        \t}
        }
        """
        // Each device once, fwtrace's own tables left out, a name the kernel cannot have refused.
        XCTAssertEqual(NftTraceInstaller.ingressDevices(listing: listing), ["eth0", "veth1", "veth2"])
        // nft would read a quoted name ending in '*' as a wildcard: such a name is not taken.
        XCTAssertEqual(NftTraceInstaller.ingressDevices(listing: "table netdev w {\n\tchain c {\n\t\ttype filter hook ingress device \"e*\" priority 0;\n\t}\n}\n"), [])
    }

    func testANetdevTableHooksEachDeviceBeforeEveryOtherChain() throws {
        var spec = FilterSpec()
        spec.proto = "tcp"; spec.dport = "8080"
        let filter = try spec.makeFilter()
        let (script, rules, chains) = NftTraceInstaller.script(table: "fwtrace_s", filters: [filter], limit: nil, session: "s",
                                                               ingressDevices: ["eth0", "veth1"])
        XCTAssertTrue(script.contains("table netdev fwtrace_s {\n  flags owner;\n  chain in0 {\n    type filter hook ingress device \"eth0\" priority -2147483648; policy accept;\n    meta protocol { ip, ip6 } tcp dport 8080 counter meta nftrace set 1 comment \"fwtrace:s\""), script)
        XCTAssertTrue(script.contains("device \"veth1\""), script)
        // Prerouting leaves those devices' packets to the ingress chains: each traced packet counted once.
        XCTAssertTrue(script.contains("tcp dport 8080 iifname != { \"eth0\", \"veth1\" } counter meta nftrace set 1"), script)
        XCTAssertEqual(chains["in0"], .ingress)
        XCTAssertEqual(chains["pre"], .prerouting)
        XCTAssertEqual(rules.filter { $0.hasPrefix("netdev ") }.count, 2)
        // Each trace chain has its own limit (docs/decisions.md: up to N + 2 times it in all).
        let (limited, limitedRules, _) = NftTraceInstaller.script(table: "fwtrace_s", filters: [filter], limit: RateLimit(count: 100), session: "s",
                                                                  ingressDevices: ["eth0", "veth1"], bridge: true)
        XCTAssertEqual(limitedRules.count, 5)
        XCTAssertEqual(limited.components(separatedBy: "limit rate 100/second").count - 1, 5, limited)
        // Without ingress chains: the inet table alone, as before.
        let (plain, _, plainChains) = NftTraceInstaller.script(table: "fwtrace_s", filters: [filter], limit: nil, session: "s")
        XCTAssertFalse(plain.contains("netdev"))
        XCTAssertFalse(plain.contains("iifname"))
        XCTAssertEqual(Set(plainChains.keys), ["pre", "out"])
    }

    func testABridgeTableWhenTheRulesetFiltersBridgedFrames() throws {
        let listing = "table bridge switch {\n\tchain forw {\n\t\ttype filter hook forward priority filter; policy accept;\n\t}\n}\n"
        XCTAssertTrue(NftTraceInstaller.hasBridgeChains(listing: listing))
        // fwtrace's own bridge table, or a bridge table without base chains, is no reason.
        XCTAssertFalse(NftTraceInstaller.hasBridgeChains(listing: "table bridge fwtrace_1 {\n\tchain bpre {\n\t\ttype filter hook prerouting priority -2147483648; policy accept;\n\t}\n}\n"))
        XCTAssertFalse(NftTraceInstaller.hasBridgeChains(listing: "table bridge t {\n\tchain regular {\n\t}\n}\ntable inet f {\n\tchain c {\n\t\ttype filter hook forward priority 0; policy accept;\n\t}\n}\n"))
        var spec = FilterSpec()
        spec.proto = "udp"; spec.dport = "5353"
        let (script, rules, chains) = NftTraceInstaller.script(table: "fwtrace_s", filters: [try spec.makeFilter()], limit: nil, session: "s", bridge: true)
        XCTAssertTrue(script.contains("table bridge fwtrace_s {\n  flags owner;\n  chain bpre {\n    type filter hook prerouting priority -2147483648; policy accept;\n    meta protocol { ip, ip6 } udp dport 5353 counter meta nftrace set 1 comment \"fwtrace:s\""), script)
        XCTAssertEqual(chains["bpre"], .prerouting)
        // A bridge port with an ingress chain: its frames are marked there, not again by bpre.
        let (both, _, _) = NftTraceInstaller.script(table: "fwtrace_s", filters: [try spec.makeFilter()], limit: nil, session: "s",
                                                    ingressDevices: ["port1"], bridge: true)
        XCTAssertTrue(both.contains("meta protocol { ip, ip6 } udp dport 5353 iifname != { \"port1\" } counter meta nftrace set 1 comment \"fwtrace:s\""), both)
        XCTAssertTrue(rules.contains { $0.hasPrefix("bridge fwtrace_s bpre: ") })
    }

    func testNetdevPacketsAreReadByTheirVersion() throws {
        let v6: [UInt8] = [0x60, 0, 0, 0, 0, 8, 17, 64] + [UInt8](repeating: 0, count: 15) + [1] + [UInt8](repeating: 0, count: 15) + [2]
        let udp: [UInt8] = [0x30, 0x39, 0x14, 0xe9, 0, 8, 0, 0]
        for nfproto: UInt32 in [5, 7] {
            let p = try PacketHeaders.parse(network: v6, transport: udp, nfproto: nfproto)
            XCTAssertEqual(p.family, .ip6)
            XCTAssertEqual(p.dport, 5353)
        }
        // An ingress chain matches the frame's ethertype: `meta nfproto` there is always netdev.
        var spec = FilterSpec()
        spec.family = "ipv4"; spec.proto = "udp"; spec.dport = "53"
        let v4only = try spec.makeFilter()
        XCTAssertEqual(v4only.nftMatch(for: .ingress), "meta protocol ip udp dport 53")
        XCTAssertEqual(v4only.nftMatch(for: .prerouting), "meta nfproto ipv4 udp dport 53")
    }
}
