import Foundation
import XCTest
@testable import FWTraceCore

/// Every input a fuzz target (Fuzz/, docs/fuzzing.md) once crashed on, replayed through the same
/// target body on each run: `swift test` catches a regression without libFuzzer (a crash kills
/// the test process). The inputs lie in Fixtures/fuzz-regressions/TARGET/, one file each: the
/// edge cases written by hand (named for what they are: a length past the datagram, an
/// attribute shorter than its header) and every input a fuzzer ever crashed on (none so far).
final class FuzzRegressionTests: XCTestCase {
    func inputs(_ target: String) throws -> [(name: String, bytes: [UInt8])] {
        let directory = KernelFixture.directory().appendingPathComponent("fuzz-regressions/\(target)")
        let names = (try FileManager.default.contentsOfDirectory(atPath: directory.path)).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertFalse(names.isEmpty, "no regression input for \(target): the replay would test nothing")
        return try names.map { ($0, Array(try Data(contentsOf: directory.appendingPathComponent($0)))) }
    }

    func worlds() -> [FuzzWorld] {
        let directory = KernelFixture.directory().path
        let native = try? String(contentsOfFile: directory + "/kernel-6.18-nft-native-rich.ruleset.json", encoding: .utf8)
        return FuzzWorld.load(directory: directory, native: native)
    }

    func testNftDecoderRegressions() throws {
        for input in try inputs("nft-decoder") { FuzzTargets.nftDecoder(input.bytes) }
    }

    func testNflogDecoderRegressions() throws {
        for input in try inputs("nflog-decoder") { FuzzTargets.nflogDecoder(input.bytes) }
    }

    func testMetricsRequestRegressions() throws {
        for input in try inputs("metrics-request") { FuzzTargets.metricsRequest(input.bytes) }
    }

    func testPipelineRegressions() throws {
        let worlds = worlds()
        for input in try inputs("pipeline") { FuzzTargets.pipeline(input.bytes, worlds: worlds) }
    }

    /// The pipeline target really drives the pipeline: each nft capture, in the target's input
    /// format against its own world, yields as many paths as the fixture replayed as `follow` does
    /// (a target that framed nothing, or fed nothing on, would fuzz nothing).
    func testPipelineTargetReplaysEachCapture() throws {
        let worlds = worlds()
        let goldens = try FileManager.default.contentsOfDirectory(atPath: KernelFixture.directory().appendingPathComponent("golden").path)
        XCTAssertEqual(worlds.count, goldens.filter { $0.hasSuffix(".jsonl") }.count, "a world for every capture, nft and legacy")
        for scenario in KernelFixture.allScenarios {
            let world = try XCTUnwrap(worlds.firstIndex { $0.scenario == "\(KernelFixture.kernel)-\(scenario)" })
            let fixture = try KernelFixture.load(scenario)
            let input = PipelineInput.encode(world: UInt8(world), fixture.datagrams.map { ($0.bytes, $0.time) })
            XCTAssertEqual(FuzzTargets.pipeline(input, worlds: worlds), try fixture.paths().count, scenario)
        }
    }
}
