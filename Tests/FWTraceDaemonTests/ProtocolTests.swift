import XCTest
import FWTraceCore
@testable import FWTraceKernel
@testable import FWTraceDaemon

/// The control protocol from the daemon's side: every request field is untrusted.
final class ProtocolTests: XCTestCase {
    func parse(_ text: String) throws -> ControlRequest { try ControlRequest.parse(Array(text.utf8)) }

    func code(_ text: String) -> String? {
        do { _ = try parse(text); return nil } catch let e as ProtocolError { return e.code } catch { return "\(error)" }
    }

    func testFollowRequestRoundTrips() throws {
        var request = ControlRequest(operation: .follow)
        request.filter.proto = "tcp"; request.filter.dport = "8080"; request.filter.src = "10.0.0.0/8"
        request.netns = "web1"; request.count = 3; request.timeout = "10s"; request.view = .text; request.limit = "20"
        XCTAssertEqual(try parse(request.line), request)
        request.quietPeriod = "500ms"
        XCTAssertEqual(try parse(request.line), request)
        XCTAssertTrue(request.line.contains(#""quiet_period":"500ms""#), request.line)
        XCTAssertEqual(try parse("{\"op\":\"status\"}").operation, .status)
    }

    /// `steps` is sent only when not the default (a daemon older than it refuses unknown fields).
    func testStepsOfTheTextView() throws {
        var request = ControlRequest(operation: .follow)
        request.view = .text
        XCTAssertFalse(request.line.contains("steps"), request.line)
        XCTAssertEqual(try parse(request.line).steps, .folded)
        request.steps = .all
        XCTAssertTrue(request.line.contains(#""steps":"all""#), request.line)
        XCTAssertEqual(try parse(request.line), request)
        XCTAssertEqual(code("{\"op\":\"follow\",\"steps\":\"some\"}"), "bad-request")
    }

    /// `all_netns` is sent only when true (a daemon older than it refuses unknown fields), and
    /// never together with one `netns`.
    func testAllNamespacesField() throws {
        var request = ControlRequest(operation: .follow)
        XCTAssertFalse(request.line.contains("all_netns"), request.line)
        request.allNetns = true
        XCTAssertTrue(request.line.contains(#""all_netns":true"#), request.line)
        XCTAssertEqual(try parse(request.line), request)
        XCTAssertFalse(try parse("{\"op\":\"follow\",\"all_netns\":false}").allNetns)
        XCTAssertEqual(code("{\"op\":\"follow\",\"all_netns\":\"yes\"}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"all_netns\":true,\"netns\":\"web1\"}"), "bad-request")
    }

    func testRefusals() {
        XCTAssertEqual(code("{\"op\":\"status\""), "invalid-json")
        XCTAssertEqual(code("[1,2]"), "invalid-json")
        XCTAssertEqual(code("{\"op\":\"shutdown\"}"), "unknown-operation")
        XCTAssertEqual(code("{\"filter\":{}}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"exec\":\"rm -rf /\"}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"filter\":{\"cmd\":\"x\"}}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"filter\":{\"dport\":8080}}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"count\":-1}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"netns\":\"/proc/1/ns/net\"}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"netns\":\"..\"}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"view\":\"html\"}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"limit\":\"" + String(repeating: "9", count: 300) + "\"}"), "bad-request")
        let huge = "{\"op\":\"follow\",\"limit\":\"" + String(repeating: "x", count: 70_000) + "\"}"
        XCTAssertEqual(code(huge), "too-large")
    }

    /// What clients send reaches the log: every control character, separator and bidi override
    /// becomes a visible escape, and a message is one bounded line whatever it holds.
    func testLogMessagesAreEscapedAndBounded() {
        XCTAssertEqual(Daemon.logSafe("session 1db2e86e ended: 3 paths"), "session 1db2e86e ended: 3 paths")
        XCTAssertEqual(Daemon.logSafe("op 'x\n<2>fwtrace: FORGED'"), "op 'x\\n<2>fwtrace: FORGED'")
        XCTAssertEqual(Daemon.logSafe("a\r\tb\u{0}c\u{1b}[31md\u{7f}"), "a\\r\\tb\\x00c\\x1b[31md\\x7f")
        XCTAssertEqual(Daemon.logSafe("x\u{85}y\u{2028}z\u{202e}é"), "x\\u{85}y\\u{2028}z\\u{202e}é")
        let long = Daemon.logSafe(String(repeating: "\n", count: 10_000))
        XCTAssertLessThanOrEqual(long.utf8.count, Daemon.maxLogMessage + 64)
        XCTAssertTrue(long.hasSuffix("… (cut from 10000 bytes)"), String(long.suffix(40)))
        XCTAssertFalse(long.unicodeScalars.contains { $0.value < 0x20 })
        // One Character holding thousands of combining marks is cut like any other text.
        let cluster = Daemon.logSafe("e" + String(repeating: "\u{301}", count: 20_000))
        XCTAssertLessThanOrEqual(cluster.utf8.count, Daemon.maxLogMessage + 64)
    }

    func testEchoedClientStringsAreBounded() {
        XCTAssertEqual(ControlProtocol.echo("reboot"), "reboot")
        let cluster = "e" + String(repeating: "\u{301}", count: 20_000)
        XCTAssertEqual(cluster.count, 1, "one Character")
        XCTAssertEqual(ControlProtocol.echo(cluster).unicodeScalars.count, 65)
        do { _ = try parse("{\"op\":\"" + cluster + "\"}"); XCTFail("accepted") } catch let e as ProtocolError {
            XCTAssertEqual(e.code, "unknown-operation")
            XCTAssertLessThan(e.message.utf8.count, 300, "the message quotes 64 scalars, not the whole op")
        } catch { XCTFail("\(error)") }
    }

    /// A client's quiet_period reaches the session's options (the daemon used to drop it: a
    /// `follow --quiet-period` served by the daemon ran with the default).
    func testQuietPeriodReachesTheJob() throws {
        var request = ControlRequest(operation: .follow)
        let root = PeerCredentials(pid: 1, uid: 0, gid: 0, groups: [], userName: "root")
        XCTAssertEqual(try ClientHandler.traceJob(request, peer: root).0.options.quietPeriod, TraceSessionOptions.defaultQuietPeriod)
        request.quietPeriod = "750ms"
        XCTAssertEqual(try ClientHandler.traceJob(try parse(request.line), peer: root).0.options.quietPeriod, 0.75, accuracy: 1e-9)
    }

    /// A request's timeout and count within the bounds `follow` has (FWTraceCore's Bounds).
    func testTimeoutAndCountBounds() throws {
        XCTAssertEqual(try parse("{\"op\":\"follow\",\"timeout\":\"720h\",\"count\":1000000000}").timeout, "720h")
        XCTAssertEqual(code("{\"op\":\"follow\",\"timeout\":\"1000h\"}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"timeout\":\"0.0001\"}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"timeout\":\"soon\"}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"count\":0}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"count\":1000000001}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"count\":1e300}"), "bad-request")
        XCTAssertEqual(try parse("{\"op\":\"follow\",\"quiet_period\":\"5s\"}").quietPeriod, "5s")
        XCTAssertEqual(code("{\"op\":\"follow\",\"quiet_period\":\"6s\"}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"quiet_period\":\"0.5ms\"}"), "bad-request")
        XCTAssertEqual(code("{\"op\":\"follow\",\"quiet_period\":100}"), "bad-request")
        do { _ = try parse("{\"op\":\"follow\",\"timeout\":\"1000h\"}") } catch let e as ProtocolError {
            XCTAssertEqual(e.message, "\"timeout\" 1000h is out of range: give a duration from 1ms to 720h (for example: \"timeout\":\"10s\")")
            XCTAssertEqual(e.exit, 2)
        }
    }

    /// JSONSerialization refuses more than 512 levels: a 60,000-deep request is invalid JSON,
    /// not a stack overflow in the daemon (nor a line from the daemon in the client).
    func testDeeplyNestedRequestsAreRefused() {
        XCTAssertEqual(code(String(repeating: "[", count: 60_000)), "invalid-json")
        XCTAssertEqual(code(String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000)), "invalid-json")
        let nested = String(repeating: "{\"a\":", count: 10_000) + "1" + String(repeating: "}", count: 10_000)
        XCTAssertEqual(code("{\"op\":\"follow\",\"filter\":" + nested + "}"), "invalid-json")
        XCTAssertNil(DaemonClient.fields(of: String(repeating: "[", count: 60_000)))
    }

    func testErrorLineCarriesExitCode() throws {
        let line = ProtocolError("bad-filter", "invalid port", exit: 2).line
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["type"] as? String, "error")
        XCTAssertEqual(object["code"] as? String, "bad-filter")
        XCTAssertEqual(DaemonClient.exitCode(object["exit"]), 2)
        XCTAssertEqual(DaemonClient.exitCode(99), 1, "an exit code outside fwtrace's set is a failure")
    }
}

/// Durations become poll timeouts rounded up and clamped, never a trapping conversion.
final class PollTimeoutTests: XCTestCase {
    func testClamped() {
        XCTAssertEqual(pollTimeout(0), 0)
        XCTAssertEqual(pollTimeout(-5), 0)
        XCTAssertEqual(pollTimeout(.nan), 0)
        XCTAssertEqual(pollTimeout(0.0001), 1)
        XCTAssertEqual(pollTimeout(0.05), 50)
        XCTAssertEqual(pollTimeout(2.0001), 2001)
        XCTAssertEqual(pollTimeout(3_600_000), Int32.max)   // 1000h
        XCTAssertEqual(pollTimeout(.infinity), Int32.max)
    }
}

final class SinkPieceTests: XCTestCase {
    func testBoundedQueueDropsOldestAndCounts() throws {
        let queue = try BoundedQueue<Int>(capacity: 3)
        for i in 1...5 { queue.push(i) }
        let (items, dropped) = queue.takeAll()
        XCTAssertEqual(items, [3, 4, 5])
        XCTAssertEqual(dropped, 2)
        XCTAssertEqual(queue.takeAll().dropped, 0)
        queue.push(6)
        XCTAssertEqual(queue.takeAll().items, [6])
    }

    /// journald's native protocol: KEY=value lines; a value with a newline in the binary form.
    func testJournaldDatagram() {
        let record = OutputRecord(line: "{\"type\":\"path\"}", type: "path", verdict: "drop", priority: 4,
                                  fields: [.init(name: "FWTRACE_VERDICT", value: "drop"), .init(name: "FWTRACE_RULE_TEXT", value: "a\nb")])
        let bytes = JournaldSink.encode(record)
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("MESSAGE={\"type\":\"path\"}\nPRIORITY=4\nSYSLOG_IDENTIFIER=fwtrace\nFWTRACE_TYPE=path\nFWTRACE_VERDICT=drop\n"), text)
        let binary: [UInt8] = Array("FWTRACE_RULE_TEXT\n".utf8) + [3, 0, 0, 0, 0, 0, 0, 0] + Array("a\nb\n".utf8)
        XCTAssertEqual(Array(bytes.suffix(binary.count)), binary)
    }
}
