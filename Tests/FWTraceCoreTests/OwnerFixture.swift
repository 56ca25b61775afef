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
            throw XCTSkip("Fixtures/owners/\(tool) is not here (it comes with the captures of issue 14)")
        }
        return OwnerFixture(tool: tool, directory: directory)
    }

    func text(_ name: String) -> String? {
        try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    func require(_ name: String) throws -> String {
        try XCTUnwrap(text(name), "\(tool)/\(name) missing")
    }

    var catalog: RuleCatalog {
        RuleCatalog.build(nftListing: text("ruleset.nft.txt") ?? "",
                          iptablesSave: [.ip: text("iptables-nft-save.txt") ?? "", .ip6: text("ip6tables-nft-save.txt") ?? ""])
    }

    var legacy: LegacyRuleset {
        LegacyRuleset.parse(ipv4: text("iptables-legacy-save.txt") ?? "", ipv6: text("ip6tables-legacy-save.txt") ?? "")
    }

    /// The owners as follow computes them from this ruleset and state.
    func owners(_ state: ToolState = ToolState()) -> OwnerMap { OwnerMap(catalog: catalog, state: state) }

    /// The paths of `trace-<name>.hex` replayed through the pipeline with this state.
    func paths(_ name: String, state: ToolState = ToolState()) throws -> [PacketPath] {
        let capture = CaptureReplay(text: Array(try require("trace-\(name).hex").utf8))
        var options = TracePipeline.Options()
        options.hints = false
        let rules = capture.backend == .legacy ? TracePipeline.Rules(legacy: legacy, tools: state)
                                               : TracePipeline.Rules(catalog: catalog, tools: state)
        var paths: [PacketPath] = []
        capture.run(rules: rules, options: options) { output in
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
