import XCTest
@testable import FWTraceCore

/// The one pipeline on real captures: a stale catalog stops a datagram before the event that
/// needs it; handed fresh rules, the rest of the datagram gets them; declined, it still ends.
final class TracePipelineTests: XCTestCase {
    /// Feeds every datagram; on each stale stop `fresh` (if any) is handed in. Returns the paths
    /// and the number of stale stops.
    func run(_ pipeline: TracePipeline, _ datagrams: [CaptureFormat.Datagram], fresh: Ruleset?) -> ([PacketPath], Int) {
        var paths: [PacketPath] = [], stops = 0
        let collect: (TraceRecord) -> Void = { if case .path(let p) = $0 { paths.append(p) } }
        for d in datagrams {
            // A stop that did not advance traps in the pipeline itself (its precondition).
            pipeline.feed(d.bytes, range: d.bytes.indices, at: d.time, reload: { stops += 1; return fresh }, emit: collect)
        }
        pipeline.flush(emit: collect)
        return (paths, stops)
    }

    func testNftStaleCatalogIsReloadedBeforeTheEvent() throws {
        let fixture = try KernelFixture.load("v4-tcp-jump-return-accept")
        let expected = try fixture.paths()
        func pipeline() throws -> TracePipeline {
            var options = TracePipeline.Options()
            options.hints = false
            options.interfaceName = KernelFixture.interfaceNames
            return TracePipeline(backend: .nft(PathAssembler.Configuration(ownTable: try fixture.ownTable())),
                                 ruleset: Ruleset.build(nftListing: ""), options: options)
        }
        let reloaded = try pipeline()
        let (paths, stops) = run(reloaded, fixture.datagrams, fresh: fixture.ruleset)
        XCTAssertEqual(stops, 1, "one stop: from then on the catalog knows every chain")
        XCTAssertEqual(paths.map { $0.steps.map(\.text) }, expected.map { $0.steps.map(\.text) })
        XCTAssertEqual(paths.map(\.verdict), expected.map(\.verdict))
        XCTAssertNotNil(paths.first?.decidingStep?.text)
        // Each event counted once, stops or not.
        XCTAssertEqual(reloaded.events, try fixture.messages().count)

        // Declined every time: it still ends, with no rule text.
        let (bare, bareStops) = run(try pipeline(), fixture.datagrams, fresh: nil)
        XCTAssertGreaterThanOrEqual(bareStops, 1)
        XCTAssertEqual(bare.count, expected.count)
        XCTAssertTrue(bare.allSatisfy { $0.steps.allSatisfy { $0.text == nil } })
    }

    func testLegacyStaleRulesetIsReloadedBeforeTheMessage() throws {
        let scenario = "legacy-v4-fail2ban-return-reject-and-dnat"
        let base = KernelFixture.directory().appendingPathComponent("\(KernelFixture.kernel)-\(scenario)")
        let datagrams = try CaptureFormat.parse(try String(contentsOf: base.appendingPathExtension("hex"), encoding: .utf8))
        let save = try String(contentsOf: URL(fileURLWithPath: base.path + ".iptables-save.txt"), encoding: .utf8)
        let decoder = try Nflog.decoder()
        func pipeline(_ save: String) -> TracePipeline {
            var options = TracePipeline.Options()
            options.hints = false
            return TracePipeline(backend: .legacy(LegacyPathAssembler.Configuration(), conntrackInvalid: true, decoder: decoder),
                                 ruleset: Ruleset.parse(iptablesSave: save), options: options)
        }
        let (expected, none) = run(pipeline(save), datagrams, fresh: nil)
        XCTAssertEqual(none, 0)
        let (paths, stops) = run(pipeline(""), datagrams, fresh: Ruleset.parse(iptablesSave: save))
        XCTAssertEqual(stops, 1)
        XCTAssertEqual(paths.map { $0.steps.map(\.text) }, expected.map { $0.steps.map(\.text) })
        XCTAssertEqual(paths.map(\.verdict), [.reject, .accept])
        let (bare, bareStops) = run(pipeline(""), datagrams, fresh: nil)
        XCTAssertGreaterThan(bareStops, 1)
        XCTAssertEqual(bare.count, expected.count)
    }

    /// --count: the pipeline takes nothing after the count-th path.
    func testCountStopsTheFeed() throws {
        let fixture = try KernelFixture.load("v4-tcp-jump-reject-fail2ban")
        var options = TracePipeline.Options()
        options.count = 1
        let pipeline = TracePipeline(backend: .nft(PathAssembler.Configuration(ownTable: try fixture.ownTable())),
                                     ruleset: fixture.ruleset, options: options)
        let (paths, _) = run(pipeline, fixture.datagrams, fresh: nil)
        XCTAssertEqual(paths.count, 1)
        XCTAssertTrue(pipeline.isDone)
    }
}
