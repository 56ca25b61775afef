import XCTest
import FWTraceCore
@testable import FWTraceDaemon

/// The metrics' cardinality bound and the [metrics] table.
final class MetricsTests: XCTestCase {
    func exposition(_ metrics: DaemonMetrics) -> String { String(decoding: metrics.exposition(sessions: [], sinks: [:]), as: UTF8.self) }

    func testRulesPastTopRulesAreFoldedPerWatchAndKeepTheirSlot() {
        let metrics = DaemonMetrics(topRules: 2, version: "9.9.9")
        let rule = { (n: Int) in DaemonMetrics.Decider(family: "inet", table: "filter", chain: "input", rule: String(n), handle: String(n + 10)) }
        for n in [1, 2, 3, 1, 4, 2] { metrics.count(decider: rule(n), verdict: "drop", watch: "a") }
        metrics.count(decider: .none, verdict: "unknown", watch: "a")
        metrics.count(decider: rule(3), verdict: "drop", watch: "b")   // b has slots of its own
        let text = exposition(metrics)
        XCTAssertTrue(text.contains(#"fwtrace_paths_total{watch="a",verdict="drop",family="inet",table="filter",chain="input",rule="1",handle="11"} 2"#), text)
        XCTAssertTrue(text.contains(#"fwtrace_paths_total{watch="a",verdict="drop",family="inet",table="filter",chain="input",rule="2",handle="12"} 2"#), text)
        XCTAssertTrue(text.contains(#"fwtrace_paths_total{watch="a",verdict="drop",family="",table="",chain="",rule="other",handle=""} 2"#), text)
        XCTAssertTrue(text.contains(#"fwtrace_paths_total{watch="a",verdict="unknown",family="",table="",chain="",rule="none",handle=""} 1"#), text)
        XCTAssertTrue(text.contains(#"fwtrace_paths_total{watch="b",verdict="drop",family="inet",table="filter",chain="input",rule="3",handle="13"} 1"#), text)
        XCTAssertFalse(text.contains(#"watch="a",verdict="drop",family="inet",table="filter",chain="input",rule="3""#), "rule 3 came third: folded")
        XCTAssertTrue(text.contains(#"fwtrace_build_info{version="9.9.9"} 1"#), text)
    }

    func testLossesBySinkAndReason() throws {
        let metrics = DaemonMetrics(topRules: 20, version: "1")
        var loss = OutputRecord.other("{}", type: "loss", context: nil)
        loss.loss = OutputRecord.Loss(count: 7, reason: "enobufs")
        metrics.count(loss, watch: "w")
        metrics.count(loss, watch: "w")
        let sink = metrics.sinkCounters("file")
        sink.delivered.increment(by: Int64(5))
        sink.dropped.increment(by: Int64(2))
        let text = exposition(metrics)
        XCTAssertTrue(text.contains(#"fwtrace_trace_lost_total{watch="w",reason="enobufs",unit="events"} 14"#), text)
        XCTAssertTrue(text.contains(#"fwtrace_sink_records_total{sink="file",outcome="delivered"} 5"#), text)
        XCTAssertTrue(text.contains(#"fwtrace_sink_records_total{sink="file",outcome="dropped"} 2"#), text)
    }

    func testMetricsTable() throws {
        XCTAssertNil(try DaemonConfig.parse("", file: "t.toml").metrics, "off by default")
        let on = try DaemonConfig.parse("[metrics]\nlisten = \"tcp:127.0.0.1:9469\"\ntop_rules = 5\n", file: "t.toml").metrics
        XCTAssertEqual(on, DaemonConfig.Metrics(listen: .tcp(host: "127.0.0.1", port: 9469), topRules: 5))
        XCTAssertEqual(try DaemonConfig.parse("[metrics]\nlisten = \"unix:/run/fwtrace/metrics.sock\"\n", file: "t.toml").metrics?.listen, .unix("/run/fwtrace/metrics.sock"))
        for (text, message) in [
            ("[metrics]\ntop_rules = 5\n", "t.toml:1: [metrics] needs listen = \"tcp:127.0.0.1:PORT\""),
            ("[metrics]\nlisten = \"tcp:0.0.0.0:9469\"\n", "loopback only"),
            ("[metrics]\nlisten = \"tcp:127.0.0.1:9469\"\ntop_rules = 0\n", "top_rules"),
            ("[metrics]\nlisten = \"tcp:127.0.0.1:9469\"\nport = 1\n", "port"),
            ("[metric]\nlisten = \"tcp:127.0.0.1:9469\"\n", "did you mean [metrics]?"),
            ("[metrics]\nlisten = \"unix:/run/fwtrace/fwtrace.sock\"\n", "t.toml:2: [metrics] listen = \"unix:/run/fwtrace/fwtrace.sock\" is the control socket's path too"),
        ] {
            XCTAssertThrowsError(try DaemonConfig.parse(text, file: "t.toml"), text) { error in
                XCTAssertTrue("\(error)".contains(message), "\(text): \(error)")
            }
        }
    }
}
