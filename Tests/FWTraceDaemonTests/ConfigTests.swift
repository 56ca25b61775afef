import XCTest
import FWTraceCore
@testable import FWTraceDaemon

/// The configuration: the shipped example parses, and every mistake names its file and line.
final class ConfigTests: XCTestCase {
    static let exampleConfig = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config/fwtrace.toml").path

    func testShippedExampleParses() throws {
        let config = try DaemonConfig.load(path: Self.exampleConfig)
        XCTAssertEqual(config.settings.socketPath, "/run/fwtrace/fwtrace.sock")
        XCTAssertEqual(config.settings.socketGroup, "fwtrace")
        XCTAssertEqual(config.settings.socketMode, 0o660)
        XCTAssertEqual(config.sinks.map(\.name), ["journal", "paths"])
        XCTAssertEqual(config.sinks.map(\.kind), [.journald, .file])
        let watch = try XCTUnwrap(config.watches.first)
        XCTAssertEqual(watch.name, "ssh-drops")
        XCTAssertEqual(watch.filter.dport, "22")
        XCTAssertEqual(watch.filter.inInterface, "eth0")
        XCTAssertEqual(watch.limit, RateLimit(count: 5, unit: "second"))
        XCTAssertEqual(watch.verdicts, ["drop", "reject"])
        XCTAssertEqual(try watch.filter.makeFilter().summary, "-p tcp --dport 22 -i eth0")
    }

    func testDefaultsAndTypes() throws {
        let config = try DaemonConfig.parse("""
        # comment
        [daemon]
        max_sessions = 3   # trailing comment
        client_stall_timeout = "2s"

        [[sink]]
        name = "c"
        type = 'socket'
        address = "unix:/run/c.sock"

        [[watch]]
        name = "w"
        family = "ipv6"
        proto = "udp"
        dport = "53,5353"
        limit = 20
        """, file: "t.toml")
        XCTAssertEqual(config.settings.maxSessions, 3)
        XCTAssertEqual(config.settings.clientStallTimeout, 2)
        XCTAssertEqual(config.settings.maxTraceRate, 1000)
        XCTAssertEqual(config.settings.maxConnectionsPerUser, 8)
        XCTAssertEqual(config.sinks.first?.target, "unix:/run/c.sock")
        XCTAssertEqual(config.sinks.first?.buffer, 10_000)
        XCTAssertEqual(try config.watches[0].filter.makeFilter().families, [.ip6])
        XCTAssertEqual(config.watches[0].limit.count, 20)
        XCTAssertEqual(config.watches[0].sinks, [])
        XCTAssertFalse(config.watches[0].allNetns)
        XCTAssertTrue(try DaemonConfig.parse("[[watch]]\nname = \"w\"\nall_netns = true", file: "t.toml").watches[0].allNetns)
    }

    /// An all-namespaces watch traces each namespace at its limit: it gets as many namespaces as
    /// max_trace_rate leaves after the other watches, and counts as limit × that.
    func testAllNamespacesWatchShareOfTheTraceRate() throws {
        let config = try DaemonConfig.parse("""
        [daemon]
        max_trace_rate = 1000
        [[watch]]
        name = "every"
        all_netns = true
        limit = 100
        [[watch]]
        name = "ssh"
        limit = 200
        [[watch]]
        name = "also"
        all_netns = true
        limit = 50
        """, file: "t.toml")
        // every: 1000 - 200 (ssh) - 50 (one namespace for also) = 750 → 7 namespaces, 700/s;
        // also: 1000 - 200 - 700 = 100 → 2 namespaces.
        XCTAssertEqual(config.watches.map(\.maxNamespaces), [7, 1, 2])
        XCTAssertEqual(config.watches.map(\.tracedRate), [700, 200, 100])
        XCTAssertEqual(DaemonConfig.namespaceBound(perSecond: 10, available: 1000), 64)
        XCTAssertEqual(DaemonConfig.namespaceBound(perSecond: 100, available: 50), 1)
        XCTAssertEqual(DaemonConfig.namespaceBound(perSecond: 100, available: 250), 2)
    }

    /// Each broken file: the error's line and the words an admin needs.
    func testErrorsNameFileLineAndFix() {
        let cases: [(String, Int, String)] = [
            ("[daemon]\nmax_sesions = 3", 2, "unknown key 'max_sesions' in [daemon] (did you mean max_sessions?)"),
            ("[daemon]\nmax_sessions = \"3\"", 2, "max_sessions: expected an integer, got a string"),
            ("[daemon]\nmax_sessions = 0", 2, "out of range"),
            ("[daemon]\nmax_connections_per_user = 57", 2, "57 is out of range 1…56"),
            ("[daemon]\nsocket_mode = \"999\"", 2, "octal permission bits"),
            ("[daemon]\nstop_timeout = \"soon\"", 2, "is not a duration"),
            ("[daemon]\nstop_timeout = 1.5", 2, "expected a duration in quotes, like \"500ms\""),
            // A request_timeout of 1000h passed and trapped on the first connection (a poll timeout).
            ("[daemon]\nrequest_timeout = \"1000h\"", 2, "request_timeout: 1000h is out of range: give a duration from 100ms to 5m"),
            ("[daemon]\nrequest_timeout = \"50ms\"", 2, "request_timeout: 50ms is out of range"),
            ("[daemon]\n\nclient_stall_timeout = \"25h\"", 3, "client_stall_timeout: 25h is out of range: give a duration from 1s to 24h"),
            ("[daemon]\nstop_timeout = \"11m\"", 2, "stop_timeout: 11m is out of range: give a duration from 100ms to 10m"),
            ("[daemon]\nlog_level = \"verbose\"", 2, "'verbose' is not a log level: debug, info, notice, warning, error"),
            ("[deamon]", 1, "unknown table [deamon]"),
            ("[daemon]\n[daemon]", 2, "the table is defined twice: keep one [table] header"),
            ("[[watch]]\nname = \"w\"\ndport = 99999", 3, "invalid port"),
            ("[[watch]]\nname = \"w\"\nproto = \"tcp\"\nsrc = \"10.0.0.0/33\"", 4, "invalid address"),
            ("[[watch]]\nname = \"w\"\nsinks = [\"nowhere\"]", 1, "sink 'nowhere', which is not defined"),
            ("[[watch]]\nname = \"w\"\n[[watch]]\nname = \"w\"", 4, "already named 'w'"),
            ("[[watch]]\nname = \"w\"\nnetns = \"../etc\"", 3, "invalid namespace"),
            ("[[watch]]\nname = \"w\"\nnetns = \"web1\"\nall_netns = true", 4, "all_netns = true traces every namespace"),
            ("[[watch]]\nname = \"w\"\nall_netns = \"yes\"", 3, "all_netns"),
            ("[[watch]]\nname = \"w\"\nlimit = \"fast\"", 3, "is not a rate"),
            ("[[watch]]\nname = \"w\"\nverdicts = [\"dropped\"]", 3, "'dropped' is not a verdict"),
            ("[[watch]]\nname = \"w\"\nbackend = \"ebpf\"", 3, "not a backend"),
            ("[[watch]]\nname = \"a b\"", 2, "must be 1–64 letters"),
            ("[[watch]]\ndport = 22", 1, "[watch] needs name"),
            ("[[sink]]\nname = \"s\"\ntype = \"socket\"\naddress = \"tcp:192.0.2.1:514\"", 4, "is not loopback"),
            ("[[sink]]\nname = \"s\"\ntype = \"file\"\npath = \"relative.log\"", 4, "must be an absolute path"),
            ("[[sink]]\nname = \"s\"\ntype = \"kafka\"", 3, "'kafka' is not a sink type"),
            ("[[sink]]\nname = \"s\"\ntype = \"file\"", 1, "needs path"),
            ("[[watch]]\nname = \"w\"\nlimit = \"900\"\n[[watch]]\nname = \"x\"\nlimit = \"900\"", 4, "more than max_trace_rate = 1000"),
            ("[daemon]\nmax_sessions = 1\n[[watch]]\nname = \"w\"\n[[watch]]\nname = \"x\"", 5, "exceed max_sessions = 1"),
            ("name = \"unterminated", 1, "its closing quote is missing"),
            ("dport = [22, 80", 1, "close it with ]"),
            ("dport = tcp", 1, "strings need quotes"),
            ("just words", 1, "expected '=', saw 'w' (write `key = value`"),
            ("[[watch]]\nname = \"w\"\nname = \"x\"", 3, "the key is set twice in the same table"),
        ]
        for (text, line, expected) in cases {
            do {
                _ = try DaemonConfig.parse(text, file: "/etc/fwtrace/fwtrace.toml")
                XCTFail("accepted: \(text)")
            } catch let error as ConfigError {
                XCTAssertEqual(error.line, line, "\(text) → \(error)")
                XCTAssertTrue(error.description.hasPrefix("/etc/fwtrace/fwtrace.toml:\(line): "), "\(error)")
                XCTAssertTrue(error.message.contains(expected), "\(text) → \(error.message), expected to contain \(expected)")
            } catch {
                XCTFail("\(text) → unexpected \(error)")
            }
        }
    }

    func testDurationBoundsAreAccepted() throws {
        let config = try DaemonConfig.parse("[daemon]\nrequest_timeout = \"5m\"\nclient_stall_timeout = \"24h\"\nstop_timeout = \"100ms\"", file: "t.toml")
        XCTAssertEqual(config.settings.requestTimeout, 300)
        XCTAssertEqual(config.settings.clientStallTimeout, 86_400)
        XCTAssertEqual(config.settings.stopTimeout, 0.1, accuracy: 1e-9)
    }

    /// A 60,000-deep array segfaulted `daemon --check` and reloads (a recursive call per level).
    func testDeeplyNestedArraysAreRefusedWithTheirLine() throws {
        for deep in [String(repeating: "[", count: 60_000), String(repeating: "[", count: 60_000) + String(repeating: "]", count: 60_000)] {
            XCTAssertThrowsError(try DaemonConfig.parse("[daemon]\nmax_sessions = " + deep + "\n", file: "/etc/fwtrace/fwtrace.toml")) { error in
                // toml++ stops at 256 levels, before any recursion of fwtrace's.
                XCTAssertEqual("\(error)", "/etc/fwtrace/fwtrace.toml:2: TOML syntax (value): exceeded maximum nested value depth of 256 (TOML_MAX_NESTED_VALUES) (fwtrace's keys take strings or arrays of strings, like [\"a\", \"b\"])")
            }
        }
        let eight = String(repeating: "[", count: 8) + "\"a\"" + String(repeating: "]", count: 8)
        XCTAssertNoThrow(try ConfigDocument.parse("x = " + eight, file: "t.toml"))
        XCTAssertThrowsError(try ConfigDocument.parse("\nx = [" + eight + "]", file: "t.toml")) { error in
            XCTAssertEqual("\(error)", "t.toml:2: x: arrays nest more than 8 deep (fwtrace's keys take strings or arrays of strings, like [\"a\", \"b\"])")
        }
    }

    func testMissingFileSaysSo() {
        XCTAssertThrowsError(try DaemonConfig.load(path: "/nonexistent/fwtrace.toml")) { error in
            XCTAssertTrue("\(error)".contains("does not exist"), "\(error)")
        }
    }

    func testCollectorAddresses() throws {
        XCTAssertEqual(try CollectorAddress.parse("tcp:127.0.0.1:5170"), .tcp(host: "127.0.0.1", port: 5170))
        XCTAssertEqual(try CollectorAddress.parse("tcp:[::1]:5170"), .tcp(host: "::1", port: 5170))
        XCTAssertEqual(try CollectorAddress.parse("unix:/run/v.sock"), .unix("/run/v.sock"))
        for bad in ["tcp:10.0.0.1:514", "tcp:127.0.0.1", "tcp:127.0.0.1:0", "udp:127.0.0.1:514", "unix:relative", "unix:/" + String(repeating: "x", count: 120)] {
            XCTAssertThrowsError(try CollectorAddress.parse(bad), bad)
        }
    }
}
