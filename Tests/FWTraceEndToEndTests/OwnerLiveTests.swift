import Foundation
import XCTest

/// Issue 14: the owners a live `fwtrace follow` names are the tools' own identities. The real
/// tools run in namespaces of their own (Tests/tools/capture-owner-fixtures.sh --out, through the
/// harnesses: ufw, fail2ban with its iptables and nftables actions, firewalld, podman with
/// netavark, ufw and podman together, Shorewall on iptables-nft and legacy), one TCP SYN each
/// traced by this build; Tests/tools/check-live-owners.py then looks every owner up in what the
/// tool itself says (`ufw status numbered`, `fail2ban-client status` and `banned`,
/// `firewall-cmd --list-all-zones`, `podman ps`, `shorewall show zones`). With --apply-fixes the
/// fix a hint gives in the tool's own commands (ufw's shadowed deny and default policy, ufw's
/// routed policy before podman's published port, fail2ban's bans, firewalld's zone) is run with the tool and the same packet traced again: its
/// verdict must change. Namespaces fwt-own-*.
final class OwnerLiveTests: XCTestCase {
    static let tools = ["ufw", "fail2ban", "fail2ban-nftables", "firewalld", "podman", "ufw-podman", "shorewall", "shorewall-legacy"]

    func testLiveOwnersAreWhatEachToolSays() throws {
        let out = NSTemporaryDirectory() + "fwt-own-live-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let tools = E2E.packageRoot.appendingPathComponent("Tests/tools").path
        let capture = try E2E.run([tools + "/capture-owner-fixtures.sh", "--fwtrace", E2E.binary, "--out", out, "--apply-fixes"] + Self.tools, check: false)
        XCTAssertEqual(capture.status, 0, "capture-owner-fixtures.sh:\n\(capture.stdout)\n\(capture.stderr)")
        for tool in Self.tools {
            let traces = (try? FileManager.default.contentsOfDirectory(atPath: out + "/" + tool))?.filter { $0.hasSuffix(".jsonl") } ?? []
            XCTAssertFalse(traces.isEmpty, "\(tool): no live trace captured")
        }
        for tool in ["ufw", "fail2ban", "fail2ban-nftables", "firewalld", "ufw-podman"] {
            let fixed = (try? FileManager.default.contentsOfDirectory(atPath: out + "/" + tool))?.filter { $0.hasPrefix("fixed-") && $0.hasSuffix(".jsonl") } ?? []
            XCTAssertFalse(fixed.isEmpty, "\(tool): no hint's fix was applied and traced again")
        }
        let check = try E2E.run(["/usr/bin/python3", tools + "/check-live-owners.py", out], check: false)
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        for tool in Self.tools { XCTAssertTrue(check.stdout.contains("\(tool): "), "\(tool) not checked: \(check.stdout)") }
        print(check.stdout)
    }
}
