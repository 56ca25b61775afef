import Foundation
import XCTest

/// `explain` predicts; `follow` observes. On the demo's firewall, for many different packets, the
/// predicted verdict and deciding rule must equal what the kernel did with the same packet.
final class ExplainVersusFollowTests: XCTestCase {
    func testPredictionsMatchObservedPathsOnTheDemoFirewall() throws {
        try E2E.requireRoot()
        let lab = try TestLab("expl")
        defer { lab.destroy() }
        try lab.installClassicFirewall()

        var cases: [(proto: String, src: String, port: Int?)] = []
        for port in [22, 80, 443, 8080, 21, 25, 53, 110, 143, 3306, 5432, 6379, 8443, 9000] { cases.append(("tcp", "10.99.0.1", port)) }
        for port in [22, 80, 8080] { cases.append(("tcp", "10.99.0.66", port)) }
        for port in [53, 123, 5353] { cases.append(("udp", "10.99.0.1", port)) }
        cases.append(("icmp", "10.99.0.1", nil))
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        try compare(cases, lab: lab)
    }

    func testPredictionsMatchObservedPathsOnANativeNftRulesetWithSets() throws {
        try E2E.requireRoot()
        let lab = try TestLab("exn")
        defer { lab.destroy() }
        let ruleset = """
        table inet web {
          set allowed { type inet_service; elements = { 22, 80 }; }
          set blocked4 { type ipv4_addr; flags interval; elements = { 10.99.0.64/28 }; }
          chain checks { ip saddr @blocked4 drop; return; }
          chain input {
            type filter hook input priority filter; policy drop;
            ct state established,related accept
            iifname "lo" accept
            meta l4proto icmp accept
            tcp dport 22 jump checks
            tcp dport @allowed accept
            tcp dport vmap { 443 : accept, 8443 : drop }
            ip saddr 10.99.0.0/24 udp dport 53 accept
            udp dport 7777 goto checks
            tcp dport 1000-2000 reject with tcp reset
            counter drop
          }
        }
        """
        let file = NSTemporaryDirectory() + "fwtrace-e2e-explain.nft"
        try ruleset.write(toFile: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try lab.server(["nft", "-f", file])

        var cases: [(proto: String, src: String, port: Int?)] = []
        for port in [22, 80, 443, 8443, 8080, 1500, 2500, 25, 3306, 9000] { cases.append(("tcp", "10.99.0.1", port)) }
        for port in [22, 80, 443, 8443, 1500] { cases.append(("tcp", "10.99.0.66", port)) }
        for port in [53, 7777, 123, 5353] { cases.append(("udp", "10.99.0.1", port)) }
        cases.append(("icmp", "10.99.0.1", nil))
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        try compare(cases, lab: lab)
    }

    /// Sends each packet under `follow` after asking `explain`, and compares.
    func compare(_ cases: [(proto: String, src: String, port: Int?)], lab: TestLab) throws {
        for c in cases {
            let label = "\(c.proto) from \(c.src) to \(c.port.map(String.init) ?? "-")"
            var explain = [E2E.binary, "explain", "--netns", lab.server, "--format", "json", "-p", c.proto,
                           "-s", c.src, "-d", "10.99.0.2", "-i", "fwte2e1"]
            if let port = c.port { explain += ["--dport", String(port)] }
            let predicted = try E2E.run(explain)
            let prediction = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(predicted.stdout.utf8)) as? [String: Any], label)
            XCTAssertEqual(prediction["predicted"] as? Bool, true)
            var filter = ["-p", c.proto, "-s", c.src]
            if let port = c.port { filter += ["--dport", String(port)] }
            let f = try Follow(["--netns", lab.server, "--count", "1", "--timeout", "10s"] + filter)
            switch c.proto {
            case "tcp": try lab.send(["tcp", "10.99.0.2", String(c.port!), "--src", c.src])
            case "udp": try lab.send(["udp", "10.99.0.2", String(c.port!)])
            default: try lab.send(["icmp4", "10.99.0.2"])
            }
            XCTAssertEqual(f.wait(), 0, "\(label): \(f.stderr)")
            let observed = try XCTUnwrap(f.paths.first, label)
            XCTAssertEqual(prediction["verdict"] as? String, observed["verdict"] as? String, label)
            let p = prediction[object: "decided_by"], o = observed[object: "decided_by"]
            XCTAssertEqual(p["chain"] as? String, o["chain"] as? String, label)
            XCTAssertEqual(p["rule"] as? Int, o["rule"] as? Int, label)
            XCTAssertEqual(p["text"] as? String, o["text"] as? String, label)
            XCTAssertEqual(p["handle"] as? Int, o["handle"] as? Int, label)
        }
    }
}
