import Foundation
import XCTest
@testable import FWTraceCore

/// A folder of Fixtures/owners/<tool>/ (Tests/tools/capture-owner-fixtures.sh made them with
/// the real tools in namespaces): the ruleset the tool wrote, what the tool says (`tool-*`),
/// and packets traced through it (`trace-*.hex`).
struct OwnerFixture {
    let tool: String
    let directory: URL

    static func load(_ tool: String) throws -> OwnerFixture {
        let directory = KernelFixture.directory().appendingPathComponent("owners").appendingPathComponent(tool)
        guard FileManager.default.fileExists(atPath: directory.path) else {
            // Committed with the tests: missing means a broken checkout, not a machine that lacks something.
            throw NSError(domain: "OwnerFixture", code: 1, userInfo: [NSLocalizedDescriptionKey: "Fixtures/owners/\(tool) is missing"])
        }
        return OwnerFixture(tool: tool, directory: directory)
    }

    func text(_ name: String) -> String? {
        try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    func require(_ name: String) throws -> String {
        try XCTUnwrap(text(name), "\(tool)/\(name) missing")
    }

    /// The nft side: the text listing with iptables-nft-save's tables.
    var catalog: Ruleset {
        Ruleset.build(nftListing: text("ruleset.nft.txt") ?? "",
                      iptablesSave: [.ip: text("iptables-nft-save.txt") ?? "", .ip6: text("ip6tables-nft-save.txt") ?? ""])
    }

    var legacy: Ruleset {
        Ruleset.parse(iptablesSave: text("iptables-legacy-save.txt") ?? "", ip6tablesSave: text("ip6tables-legacy-save.txt") ?? "")
    }

    /// What follow's ToolStateReader reads in the tool's namespace: the files of its /etc the
    /// capture kept (ufw's user*.rules, Shorewall's zones, firewalld's zone XML).
    static func followState(_ dir: URL) -> ToolState {
        func text(_ name: String) -> String? { try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8) }
        var state = ToolState()
        state.ufwUserRules = text("tool-etc-ufw-user.rules.txt")
        state.ufwUserRules6 = text("tool-etc-ufw-user6.rules.txt")
        state.shorewallZones = text("tool-etc-shorewall-zones.txt")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        for file in files.sorted() where file.hasPrefix("tool-zone-") && file.hasSuffix(".xml") {
            if let xml = text(file) { state.addFirewalldZone(String(file.dropFirst(10).dropLast(4)), xml: xml) }
        }
        return state
    }

    /// The owners as follow computes them from this ruleset and state.
    func owners(_ state: ToolState = ToolState()) -> OwnerMap { OwnerMap(ruleset: catalog, state: state) }

    /// The paths of `trace-<name>.hex` replayed through the pipeline with this state.
    func paths(_ name: String, state: ToolState = ToolState()) throws -> [PacketPath] {
        let capture = CaptureReplay(text: Array(try require("trace-\(name).hex").utf8))
        var options = TracePipeline.Options()
        options.hints = false
        let ruleset = (capture.backend == .legacy ? legacy : catalog).withOwners(state)
        var paths: [PacketPath] = []
        capture.run(ruleset: ruleset, options: options, nflog: capture.backend == .legacy ? try Nflog.decoder() : nil) { output in
            if case .record(.path(let path), _) = output { paths.append(path) }
        }
        return paths
    }

    /// The one path of a trace (each capture is of one connection attempt's first packet).
    func path(_ name: String, state: ToolState = ToolState()) throws -> PacketPath {
        let all = try paths(name, state: state)
        return try XCTUnwrap(all.first, "trace-\(name): no path")
    }
}

extension PacketPath {
    /// The deciding step's owner.
    var decidingOwner: RuleOwner? { decidingStep?.owner }

    /// The first step in this chain.
    func step(inChain chain: String) -> PathStep? { steps.first { $0.chain == chain } }
}
