import Foundation
import XCTest
@testable import FWTraceCore

/// Issue 14: no hint proposes a raw iptables/nft command for a chain a tool manages without
/// saying that the tool will overwrite it and where to make it last. Every hint of every trace
/// of every owner fixture is scanned.
final class OwnerHintCommandTests: XCTestCase {
    static let tools = ["ufw", "ufw-podman", "ufw-podman/route-allow", "ufw-docker", "podman", "fail2ban", "fail2ban-nftables",
                        "firewalld", "docker", "shorewall", "shorewall-legacy", "kube-proxy"]

    /// The raw commands in a text: (family, table, chain) of each `iptables … -I/-A CHAIN` and
    /// `nft insert/add rule FAMILY TABLE CHAIN`.
    static func rawCommands(_ text: String) -> [(TableFamily, String, String)] {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "`" || $0 == ";" || $0 == "(" }).map(String.init)
        var found: [(TableFamily, String, String)] = []
        for (i, word) in words.enumerated() {
            if word == "iptables" || word == "ip6tables" {
                var table = "filter", j = i + 1
                if j + 1 < words.count, words[j] == "-t" { table = words[j + 1]; j += 2 }
                guard j + 1 < words.count, ["-I", "-A", "-R", "-D"].contains(words[j]) else { continue }
                found.append((word == "iptables" ? .ip : .ip6, table, words[j + 1]))
            } else if word == "nft", i + 5 < words.count, ["insert", "add"].contains(words[i + 1]), words[i + 2] == "rule" {
                found.append((TableFamily(rawValue: words[i + 3]) ?? .unknown, words[i + 4], words[i + 5]))
            }
        }
        return found
    }

    func testNoRawCommandOnAManagedChainWithoutTheOverwriteWarning() throws {
        var commands = 0, warned = 0, hints = 0
        for tool in Self.tools {
            let f = try OwnerFixture.load(tool)
            for trace in f.traces {
                let legacy = CaptureReplay(text: Array(try f.require("trace-\(trace).hex").utf8)).backend == .legacy
                let owners = f.ownerMap(legacy: legacy)
                for hint in try f.hinted(trace).hints {
                    hints += 1
                    for (family, table, chain) in Self.rawCommands(hint.message) {
                        commands += 1
                        guard let owner = owners.chainOwner(family, table, chain) else { continue }
                        warned += 1
                        XCTAssertTrue(hint.message.contains("\(Self.managerName(owner.manager)) will overwrite this edit"),
                                      "\(tool) \(trace) [\(hint.code)] proposes a raw edit of \(owner.label)'s \(table)/\(chain): \(hint.message)")
                    }
                }
            }
        }
        XCTAssertGreaterThan(hints, 30)
        // The scan sees commands (DOCKER-USER's and FORWARD's are the admin's: no warning needed).
        XCTAssertGreaterThan(commands, 0)
        XCTAssertEqual(warned, 0, "no hint on these fixtures should need a raw edit of a managed chain")
    }

    static func managerName(_ m: RuleOwner.Manager) -> String {
        switch m {
        case .ufw: return "ufw"
        case .firewalld: return "firewalld"
        case .docker: return "Docker"
        case .podman: return "netavark"
        case .kubeProxy: return "kube-proxy"
        case .fail2ban: return "fail2ban"
        case .libvirt: return "libvirt"
        case .shorewall: return "Shorewall"
        }
    }

    func testTheScannerFindsCommands() {
        let found = Self.rawCommands("Put it before: `iptables -t nat -I DOCKER 1 -p tcp` and nft insert rule inet firewalld filter_IN_public position 9 tcp dport 1 accept")
        XCTAssertEqual(found.map { "\($0.0.rawValue) \($0.1) \($0.2)" }, ["ip nat DOCKER", "inet firewalld filter_IN_public"])
    }

    /// A hint that must edit a managed chain raw says so: a ufw chain's shadowed rule that is not a ufw rule.
    func testShadowedRuleInAUfwChainWarns() {
        var step = PathStep(hook: .input, table: "filter", tableFamily: .ip, chain: "ufw-user-input", kind: .rule, verdict: .drop)
        step.rule = 2; step.text = "-A ufw-user-input -p tcp -m tcp --dport 22 -j DROP"
        step.owner = RuleOwner(.ufw, [("file", "user.rules")])
        let context = HintContext(rules: { _, _, _ in [] }, listening: { _, _, _ in nil })
        let hint = HintEngine.shadowedIptables(step, position: 2, text: step.text!,
                                               later: (3, "-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT", true), context)
        XCTAssertEqual(Self.rawCommands(hint.message).count, 1)
        XCTAssertTrue(hint.message.contains("ufw will overwrite this edit"), hint.message)
        XCTAssertTrue(hint.message.contains("/etc/ufw/before.rules"), hint.message)
    }
}
