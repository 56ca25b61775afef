import XCTest
import FWTraceCore
@testable import FWTraceDaemon

/// The configuration is TOML 1.0: every way of writing the same thing gives the same
/// configuration, and errors keep naming the file and the key's line, whatever the form.
final class TOMLFormsTests: XCTestCase {
    /// The plain form every variant below must equal.
    static let plain = #"""
    [daemon]
    socket = "/run/fwtrace/fwtrace.sock"
    socket_group = "fwtrace"
    max_sessions = 4
    stop_timeout = "5s"
    log_level = "warning"

    [[sink]]
    name = "paths"
    type = "file"
    path = "/var/log/fwtrace/paths.jsonl"

    [[sink]]
    name = "c"
    type = "socket"
    address = "unix:/run/c.sock"

    [[watch]]
    name = "ssh"
    proto = "tcp"
    dport = 22
    verdicts = ["drop", "reject"]
    sinks = ["paths", "c"]
    limit = "5/second"

    [[watch]]
    name = "dns"
    family = "ipv6"
    proto = "udp"
    dport = "53,5353"
    limit = 20
    """#

    /// Everything from the first [[sink]] on.
    static var sinksAndWatches: String { String(plain[plain.range(of: "[[sink]]")!.lowerBound...]) }

    static func plain(_ replacements: [(String, String)]) -> String {
        replacements.reduce(plain) { text, r in
            precondition(text.contains(r.0), r.0)
            return text.replacingOccurrences(of: r.0, with: r.1)
        }
    }

    /// Valid TOML written the ways the language allows.
    static let variants: [(String, String)] = [
        ("dotted keys (spaces and quotes around the dots)", #"""
        daemon.socket = "/run/fwtrace/fwtrace.sock"
        daemon.socket_group = "fwtrace"
        daemon . max_sessions = 4
        daemon."stop_timeout" = "5s"
        daemon.'log_level' = "warning"

        """# + sinksAndWatches),
        ("inline tables; arrays of them over several lines, with comments and a trailing comma", #"""
        daemon = { socket = "/run/fwtrace/fwtrace.sock", socket_group = "fwtrace", max_sessions = 4, stop_timeout = "5s", log_level = "warning" }
        sink = [
          # the file
          { name = "paths", type = "file", path = "/var/log/fwtrace/paths.jsonl" },
          { name = "c", type = "socket", address = "unix:/run/c.sock" },   # the collector
        ]
        watch = [
          { name = "ssh", proto = "tcp", dport = 22, verdicts = ["drop", "reject"], sinks = ["paths", "c"], limit = "5/second" },
          { name = "dns", family = "ipv6", proto = "udp", dport = "53,5353", limit = 20 },
        ]
        """#),
        ("multi-line arrays with comments and trailing commas", plain([
            (#"verdicts = ["drop", "reject"]"#, #"""
            verdicts = [
              "drop",     # dropped
              # a comment line inside
              "reject",   # rejected
            ]
            """#),
            (#"sinks = ["paths", "c"]"#, "sinks = [\n\"paths\",\n\n\"c\"\n]"),
        ])),
        ("literal strings", plain([
            (#""/var/log/fwtrace/paths.jsonl""#, "'/var/log/fwtrace/paths.jsonl'"),
            (#"name = "ssh""#, "name = 'ssh'"),
            (#""5/second""#, "'5/second'"),
        ])),
        ("multi-line basic and literal strings", plain([
            (#"address = "unix:/run/c.sock""#, "address = \"\"\"\\\n      unix:/run/c.sock\"\"\""),
            (#"dport = "53,5353""#, "dport = '''53,5353'''"),
            (#"stop_timeout = "5s""#, "stop_timeout = \"\"\"\n5s\"\"\""),
            (#"path = "/var/log/fwtrace/paths.jsonl""#, "path = '''\n/var/log/fwtrace/paths.jsonl'''"),
        ])),
        ("escapes and quoted keys", plain([
            (#"proto = "tcp""#, #""proto" = "\u0074cp""#),
            ("max_sessions = 4", "'max_sessions' = 4"),
        ])),
        ("integers in hex, octal and with _", plain([
            ("max_sessions = 4", "max_sessions = 0x4"),
            ("dport = 22", "dport = 0o26"),
            ("limit = 20", "limit = 2_0"),
        ])),
        ("comments anywhere, spaces in headers, tables in another order", #"""
        # a file that starts with a comment
        [[ sink ]]   # the file sink
        name = "paths"   # its name
        type = "file"
        path = "/var/log/fwtrace/paths.jsonl"
        [[sink]]
        name="c"
        type="socket"
        address="unix:/run/c.sock"
        [[watch]]
        name = "ssh"
        proto = "tcp"
        dport = 22
        verdicts = ["drop","reject",]
        sinks = ["paths", "c"]
        limit = "5/second"
        [[watch]]
        name = "dns"
        family = "ipv6"
        proto = "udp"
        dport = "53,5353"
        limit = 20
        [ daemon ]  # last
        	socket = "/run/fwtrace/fwtrace.sock"
        socket_group = "fwtrace"
        max_sessions = 4
        stop_timeout = "5s"
        log_level = "warning"
        #
        """#),
        ("CRLF line ends", plain.replacingOccurrences(of: "\n", with: "\r\n")),
    ]

    func assertSame(_ a: DaemonConfig, _ b: DaemonConfig, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.settings, b.settings, what, file: file, line: line)
        XCTAssertEqual(a.sinks, b.sinks, what, file: file, line: line)
        XCTAssertEqual(a.watches, b.watches, what, file: file, line: line)
    }

    func testEveryTOMLFormParsesToTheSameConfig() throws {
        let expected = try DaemonConfig.parse(Self.plain, file: "plain.toml")
        XCTAssertEqual(expected.settings.maxSessions, 4)
        XCTAssertEqual(expected.settings.stopTimeout, 5)
        XCTAssertEqual(expected.settings.logLevel, .warning)
        XCTAssertEqual(expected.sinks.map(\.name), ["paths", "c"])
        XCTAssertEqual(expected.sinks.map(\.target), ["/var/log/fwtrace/paths.jsonl", "unix:/run/c.sock"])
        XCTAssertEqual(expected.watches.map(\.name), ["ssh", "dns"])
        XCTAssertEqual(expected.watches[0].verdicts, ["drop", "reject"])
        XCTAssertEqual(expected.watches[0].sinks, ["paths", "c"])
        XCTAssertEqual(expected.watches[0].filter.dport, "22")
        XCTAssertEqual(expected.watches[1].limit.count, 20)
        for (what, text) in Self.variants {
            do {
                assertSame(try DaemonConfig.parse(text, file: "variant.toml"), expected, what)
            } catch {
                XCTFail("\(what): \(error)\n\(text)")
            }
        }
    }

    /// The line each watch starts on, whatever the form: the line cross-table errors name.
    func testWatchLinesInEveryForm() throws {
        XCTAssertEqual(try DaemonConfig.parse(Self.plain, file: "f").watches.map(\.line), [18, 26])
        XCTAssertEqual(try DaemonConfig.parse(Self.variants[1].1, file: "f").watches.map(\.line), [8, 9])
    }

    /// Keys written in any form keep their own line in errors.
    func testErrorsInEveryFormNameTheKeysLine() {
        let cases: [(String, Int, String)] = [
            ("daemon.max_sesions = 3", 1, "unknown key 'max_sesions' in [daemon] (did you mean max_sessions?)"),
            ("[daemon]\nsocket = \"/run/s\"\n\n\nmax_sessions = 0x1000", 5, "max_sessions: 4096 is out of range 1…256"),
            ("[daemon]\nmax_sessions = [\n  1,\n]", 2, "max_sessions: expected an integer, got an array"),
            ("sink = [\n  { name = \"s\", type = \"stdout\" },\n  { name = \"t\", type = \"stdout\", bufer = 100 },\n]", 3, "unknown key 'bufer' in [sink] (did you mean buffer?)"),
            ("[[watch]]\nname = \"w\"\nverdicts = [\n  \"drop\",\n  \"dropped\",\n]", 3, "'dropped' is not a verdict"),
            ("watch = [{ name = \"w\" },\n{ name = \"x\", backend = \"ebpf\" }]", 2, "not a backend"),
            ("[[watch]]\nname = \"w\"\n\"dport\" = 99999", 3, "invalid port"),
            ("[[watch]]\nname = \"w\"\nsrc = '''\n10.0.0.0/33'''\nproto = \"tcp\"", 3, "invalid address"),
            ("[[watch]]\nname = \"w\"\nsinks = [\n\"nowhere\",\n]", 1, "sink 'nowhere', which is not defined"),
            ("[daemon]\nstop_timeout = 1.5", 2, "stop_timeout: expected a duration in quotes, like \"500ms\", \"10s\" or \"2m\", got a float"),
            ("[daemon]\nstop_timeout = 1979-05-27", 2, "got a date or time"),
            ("[daemon]\nstop_timeout = 10", 2, "expected a duration in quotes"),
            ("[daemon]\nmax_sessions = 2.0", 2, "max_sessions: expected an integer, got a float"),
            ("[daemon]\nlog_level = \"verbose\"", 2, "'verbose' is not a log level: debug, info, notice, warning, error"),
            ("[daemon]\n[daemon.limits]\nx = 1", 2, "unknown key 'limits' in [daemon]"),
            ("[daemon]\nsocket_group = { name = \"fwtrace\" }", 2, "socket_group: expected a string in quotes, got a table"),
            ("[sink]\nname = \"s\"", 1, "write [[sink]] (double brackets)"),
            ("[[daemon]]\nmax_sessions = 3", 1, "daemon is an array, not a table: write [daemon]"),
            ("daemon = 3", 1, "daemon is an integer, not a table"),
            ("watch = [\"a\"]", 1, "watch holds a string"),
            ("[deamon]", 1, "unknown table [deamon] (did you mean [daemon]?)"),
            ("[[watches]]\nname = \"w\"", 1, "unknown table [watches] (did you mean [[watch]]?)"),
            ("\n\nsocket = \"/run/s\"\n[daemon]", 3, "unknown key 'socket' at the top level: keys belong to a table, like [daemon]"),
            ("[daemon]\nsocket_group = \"a\u{0}b\"", 2, "NUL byte"),
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

    /// Syntax errors: toml++'s line, with the fix for the usual mistakes.
    func testSyntaxErrorsNameTheirLine() {
        let cases: [(String, Int, String)] = [
            ("[daemon]\n\nsocket = \"/run/s", 3, "its closing quote is missing"),
            ("[[watch]]\nname = \"w\"\nverdicts = [\n  \"drop\",\n  reject,\n]", 5, "TOML syntax"),
            // At the end of the file: the line the string or array opened on.
            ("[[watch]]\nname = \"w\"\ndport = \"\"\"22\n\n", 3, "its closing quote is missing"),
            ("[[watch]]\nname = \"w\"\nverdicts = [\n  \"drop\",\n  \"reject\"\n\n", 3, "close it with ]"),
            ("[[watch]]\nname = \"w\"\nproto = tcp", 3, "strings need quotes"),
            ("[[watch]]\nname = \"w\"\nproto = web", 3, "strings need quotes"),
            ("[[watch]]\nname = \"w\"\n[[watch]\n", 3, "TOML syntax"),
            ("[daemon]\nsocket = \"\\q\"", 2, "TOML syntax"),
        ]
        for (text, line, expected) in cases {
            XCTAssertThrowsError(try DaemonConfig.parse(text, file: "f.toml")) { error in
                guard let error = error as? ConfigError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.line, line, "\(text) → \(error)")
                XCTAssertTrue(error.message.contains(expected), "\(text) → \(error.message)")
            }
        }
    }

    /// Nesting is bounded before any recursion of ours: toml++ stops at 256 levels of arrays and
    /// inline tables (a clean error, no crash), fwtrace's values at 8.
    func testDeeplyNestedInlineTablesAreRefused() {
        for deep in [String(repeating: "{a=", count: 60_000), String(repeating: "{ a = [", count: 30_000), String(repeating: "[{a=", count: 30_000)] {
            XCTAssertThrowsError(try DaemonConfig.parse("[daemon]\nx = " + deep + "\n", file: "f.toml")) { error in
                XCTAssertEqual((error as? ConfigError)?.line, 2, "\(error)")
                XCTAssertTrue("\(error)".contains("nested value depth"), "\(error)")
            }
        }
    }
}
