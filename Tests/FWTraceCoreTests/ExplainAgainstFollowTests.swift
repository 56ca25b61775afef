import Foundation
import XCTest
@testable import FWTraceCore

/// explain against follow on the rulesets the firewall managers really write (Fixtures/owners,
/// issue 14): for every packet traced there, explain's hypothetical packet is built from the
/// traced one (addresses, ports, protocol, TCP flags, interfaces, the conntrack state the trace
/// shows, or "new" for the SYN of a trace without conntrack), the predictor runs on the fixture's
/// ruleset with the lab's own addresses (the README's "The lab:" line, and loopback), and its
/// verdict and deciding rule must be the kernel's. No prediction may be wrong; at least 95 % must
/// be decided; a packet it cannot decide names the match.
final class ExplainAgainstFollowTests: XCTestCase {
    static let tools = ["ufw", "ufw-podman", "ufw-podman/route-allow", "ufw-docker", "podman", "fail2ban", "fail2ban-nftables",
                        "firewalld", "docker", "shorewall", "shorewall-legacy", "kube-proxy"]
        // The same rulesets restored as data, other kinds of packets (capture-explain-packets.sh).
        + ["ufw", "shorewall", "fail2ban", "firewalld", "fail2ban-nftables"].map { "\($0)/explain" }

    struct Row { var tool: String; var packets = 0, decided = 0, agree = 0, wrong: [String] = [], unknown: [String] = [] }

    func testPredictionsAgreeWithTheKernelOnRealRulesets() throws {
        var rows: [Row] = []
        for tool in Self.tools {
            let dir = KernelFixture.directory().appendingPathComponent("owners/\(tool)")
            var row = Row(tool: tool)
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("trace-") && $0.hasSuffix(".jsonl") }
            for file in files.sorted() {
                let record = try Self.pathRecord(dir.appendingPathComponent(file))
                let name = String(file.dropFirst(6).dropLast(6))
                // Follow saw no fate (an incomplete path): nothing to compare with.
                if record["verdict"] as? String == "unknown" { print("not compared (the kernel's verdict was not seen): \(tool)/\(name)"); continue }
                row.packets += 1
                let prediction = try Self.predict(record, in: dir)
                let observed = Self.decision(verdict: record["verdict"] as? String, record["decided_by"] as? [String: Any])
                if prediction.path.verdict == .unknown {
                    let at = prediction.unknownAt
                    row.unknown.append("\(name): \(at?.table ?? "")/\(at?.chain ?? "") rule \(at?.rule ?? 0): \(prediction.unknownMatch ?? "no match named")")
                    continue
                }
                row.decided += 1
                let s = prediction.path.decidingStep
                let predicted = Self.decision(verdict: prediction.path.verdict.rawValue,
                                              s.map { ["table": $0.table, "chain": $0.chain, "rule": $0.rule as Any, "kind": $0.kind.rawValue] })
                if predicted == observed { row.agree += 1 } else { row.wrong.append("\(name): predicted \(predicted), kernel \(observed)") }
            }
            rows.append(row)
        }
        let total = rows.reduce(into: Row(tool: "all")) { t, r in
            t.packets += r.packets; t.decided += r.decided; t.agree += r.agree; t.wrong += r.wrong; t.unknown += r.unknown
        }
        print(Self.table(rows + [total]))
        XCTAssertEqual(total.wrong, [], "wrong predictions")
        XCTAssertGreaterThanOrEqual(Double(total.decided), 0.95 * Double(total.packets), "decided: \(total.decided) of \(total.packets)")
        XCTAssertGreaterThanOrEqual(total.packets, 90)
    }

    static func table(_ rows: [Row]) -> String {
        var lines = ["| tool | packets | decided | agree | wrong | unknown (the match) |", "|---|---|---|---|---|---|"]
        for r in rows {
            let unknown = r.unknown.isEmpty ? "0" : "\(r.unknown.count): " + r.unknown.joined(separator: "; ")
            lines.append("| \(r.tool) | \(r.packets) | \(r.decided) | \(r.agree) | \(r.wrong.count) | \(r.tool == "all" ? String(r.unknown.count) : unknown) |")
        }
        return lines.joined(separator: "\n")
    }

    /// Verdict and deciding rule as one comparable string.
    static func decision(verdict: String?, _ step: [String: Any]?) -> String {
        guard let step else { return verdict ?? "-" }
        let rule = (step["rule"] as? Int).map { " rule \($0)" } ?? " \(step["kind"] as? String ?? "")"
        return "\(verdict ?? "-") by \(step["table"] as? String ?? "")/\(step["chain"] as? String ?? "")\(rule)"
    }

    static func pathRecord(_ url: URL) throws -> [String: Any] {
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if object["type"] as? String == "path" { return object }
        }
        throw NSError(domain: "ExplainAgainstFollowTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "no path record in \(url.lastPathComponent)"])
    }

    static func text(_ dir: URL, _ name: String) -> String {
        (try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    /// explain's hypothetical packet from the traced one, predicted on the fixture's ruleset.
    static func predict(_ record: [String: Any], in dir: URL) throws -> PathPredictor.Prediction {
        let p = try XCTUnwrap(record["packet"] as? [String: Any])
        let src = try XCTUnwrap(IPAddress(p["src"] as? String ?? "")), dst = try XCTUnwrap(IPAddress(p["dst"] as? String ?? ""))
        let protocols: [String: UInt8] = ["tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "sctp": 132]
        let number = try XCTUnwrap(protocols[p["proto"] as? String ?? ""])
        var packet = PacketSummary(family: src.isV4 ? .ip : .ip6, src: src, dst: dst, protocolNumber: number, length: 60, ttl: 64)
        packet.sport = (p["sport"] as? Int).map(UInt16.init)
        packet.dport = (p["dport"] as? Int).map(UInt16.init)
        packet.icmpType = (p["icmp_type"] as? Int).map(UInt8.init)
        packet.icmpCode = (p["icmp_code"] as? Int).map(UInt8.init)
        if let flags = p["tcp_flags"] as? [String] {
            packet.tcpFlags = flags.reduce(0) { $0 | UInt8(NftRuleEvaluator.tcpFlagNames[$1] ?? 0) }
        }
        // nft: a trace without conntrack is of a packet without an entry (INVALID: SYN+FIN); the
        // legacy backend reports none, its traces are SYNs that open a connection.
        let noState = record["backend"] as? String == "legacy" ? "new" : "invalid"
        let state = ((record["conntrack"] as? [String: Any])?["state"] as? String) ?? noState
        let steps = record["path"] as? [[String: Any]] ?? []
        let local = steps.first?["hook"] as? String == "output"
        let addresses = try labAddresses(dir)
        var predictor: PathPredictor
        if record["backend"] as? String == "legacy" {
            predictor = PathPredictor(save: text(dir, src.isV4 ? "iptables-legacy-save.txt" : "ip6tables-legacy-save.txt"),
                                      family: packet.family, localAddresses: Set(addresses.map(\.address)))
        } else {
            var ruleset = Ruleset.build(nftListing: text(dir, "ruleset.nft.txt"),
                                        iptablesSave: [.ip: text(dir, "iptables-nft-save.txt"), .ip6: text(dir, "ip6tables-nft-save.txt")])
            ruleset.addNftJSON([try NftListing(json: text(dir, "ruleset.json"))])
            predictor = PathPredictor(nft: ruleset, family: packet.family, localAddresses: Set(addresses.map(\.address)))
        }
        predictor.environment.localAddresses = addresses
        return predictor.predict(packet, iif: p["iif"] as? String, oif: p["oif"] as? String, ctState: try XCTUnwrap(ConntrackState(rawValue: state)),
                                 locallyGenerated: local)
    }

    /// The tool's namespace's addresses from the README: "namespace `NAME` (the tool's) with `o0`
    /// 10.77.0.1/24, fd77::1/64;", and loopback.
    static func labAddresses(_ dir: URL) throws -> [MatchEnvironment.LocalAddress] {
        let readme = text(dir, "README.md")
        let line = try XCTUnwrap(readme.split(separator: "\n").first { $0.hasPrefix("The lab: ") })
        let part = try XCTUnwrap(line.components(separatedBy: "(the tool's) with ").last?.split(separator: ";").first)
        let words = part.split(separator: " ")
        let interface = String(try XCTUnwrap(words.first).trimmingCharacters(in: CharacterSet(charactersIn: "`")))
        var out = words.dropFirst().compactMap { IPPrefix(String($0.trimmingCharacters(in: CharacterSet(charactersIn: ",")))) }
            .map { MatchEnvironment.LocalAddress(interface: interface, prefix: $0) }
        out += [IPPrefix("127.0.0.1/8")!, IPPrefix("::1/128")!].map { MatchEnvironment.LocalAddress(interface: "lo", prefix: $0) }
        XCTAssertGreaterThanOrEqual(out.count, 4, dir.lastPathComponent)
        return out
    }
}
