import XCTest
@testable import FWTraceCore

/// The fast paths give the same answers as the plain code they shortcut.
final class FastPathTests: XCTestCase {
    /// The word splitter of old, on Characters: the byte version must agree with it.
    static func splitOnCharacters(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quoted = false, escaped = false, inWord = false
        for ch in line {
            if escaped { current.append(ch); escaped = false; continue }
            if ch == "\\" && quoted { escaped = true; continue }
            if ch == "\"" { quoted.toggle(); inWord = true; continue }
            if ch == " " && !quoted {
                if inWord { words.append(current); current = ""; inWord = false }
                continue
            }
            current.append(ch); inWord = true
        }
        if inWord { words.append(current) }
        return words
    }

    static let lines = [
        "-A INPUT -p udp -m udp --dport 9000:9100 -j DROP",
        "-A INPUT -j REJECT --reject-with icmp-port-unreachable",
        "-A INPUT  -s 10.0.0.0/8   -j ACCEPT ",
        "-A INPUT -m comment --comment \"say -j DROP here\" -j ACCEPT",
        "-A INPUT -m comment --comment \"a \\\"quoted\\\" word\" -g other",
        "-A INPUT -m comment --comment \"\" -j",
        "-A INPUT -j ACCEPT -j",
        "-A INPUT -j -j LOG",
        "-A INPUT -g fail2ban-SSH",
        "-A INPUT -m comment --comment \"café\" -j ACCEPT",
        "-A INPUT\r\n-j DROP",
        "-A INPUT\t-j DROP",
        "",
        "   ",
        "-j",
    ]

    func testByteSplitterAgreesWithCharacterSplitter() {
        for line in Self.lines {
            XCTAssertEqual(Ruleset.splitArguments(line), Self.splitOnCharacters(line), line)
        }
    }

    func testPlainTargetAgreesWithWordSplitTarget() {
        for line in Self.lines {
            let words = Self.splitOnCharacters(line)
            var expected: String?
            if let j = words.lastIndex(where: { $0 == "-j" || $0 == "-g" }), j + 1 < words.count { expected = words[j + 1] }
            XCTAssertEqual(IptablesRuleEvaluator.target(line), expected, line)
        }
    }

    func testWriterEscapesEveryControlByte() throws {
        let all = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self) + "é☃"
        var w = JSONWriter(capacity: 16)   // small: the buffer must grow
        w.beginObject()
        w.string("k\"ey", all)
        w.int("min", Int64.min)
        w.int("max", UInt64.max)
        w.int("zero", 0)
        w.endObject()
        let parsed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(w.text.utf8)) as? [String: Any])
        XCTAssertEqual(parsed["k\"ey"] as? String, all)
        XCTAssertTrue(w.text.contains("\"min\":-9223372036854775808"))
        XCTAssertTrue(w.text.contains("\"max\":18446744073709551615"))
        XCTAssertTrue(w.text.contains("\"zero\":0"))
        XCTAssertTrue(w.text.contains("\\u007f"))
    }

    /// Escaping one byte at a time, as the reference for the eight-bytes-at-a-time scan.
    static func escapeByteByByte(_ s: String) -> String {
        var out = "\""
        for b in s.utf8 {
            switch b {
            case 0x22: out += "\\\""
            case 0x5c: out += "\\\\"
            case 0x0a: out += "\\n"
            case 0x0d: out += "\\r"
            case 0x09: out += "\\t"
            case 0..<0x20, 0x7f: out += String(format: "\\u%04x", b)
            default: out.unicodeScalars.append(Unicode.Scalar(b))
            }
        }
        return out + "\""
    }

    func testWordScanFindsEverySpecialByteAtEveryPosition() {
        let specials: [UInt8] = Array(0..<0x20) + [0x22, 0x5c, 0x7f]
        for length in [1, 7, 8, 9, 15, 16, 17, 31] {
            for position in 0..<length {
                for special in specials {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = special
                    let s = String(decoding: bytes, as: UTF8.self)
                    var w = JSONWriter()
                    w.string(nil, s)
                    XCTAssertEqual(w.text, Self.escapeByteByByte(s), "length \(length), byte \(special) at \(position)")
                }
            }
        }
        // Clean bytes next to the special ones' neighbours (0x21, 0x23, 0x5b, 0x5d, 0x7e, 0x80+) pass as they are.
        let clean = String(decoding: [0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7e, 0x20, 0x21] as [UInt8], as: UTF8.self) + "é☃ü€ok"
        var w = JSONWriter()
        w.string(nil, clean)
        XCTAssertEqual(w.text, "\"" + clean + "\"")
    }

    /// The String-built timestamp of old, as the reference.
    static func rfc3339WithStrings(_ seconds: Double) -> String {
        let micros = Int64((seconds * 1_000_000).rounded(.down))
        var days = micros / 86_400_000_000
        var rest = micros % 86_400_000_000
        if rest < 0 { rest += 86_400_000_000; days -= 1 }
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let hour = rest / 3_600_000_000, minute = rest / 60_000_000 % 60, second = rest / 1_000_000 % 60
        let fraction = rest % 1_000_000
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(fraction, 6))Z"
    }

    /// Numbers written in place (two digits at a time) read as `String(value)` writes them.
    func testDecimalsMatchStringDescription() {
        var rng = SystemRandomNumberGenerator()
        var values: [UInt64] = [0, 9, 10, 99, 100, 101, 999, 1000, 9999, 10000, 99999, 100_000, 999_999, 1_000_000, .max, .max - 1]
        for _ in 0..<20_000 { values.append(UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng)) }
        for v in values {
            var w = JSONWriter(capacity: 16)
            w.decimal(v)
            XCTAssertEqual(w.text, String(v))
            XCTAssertEqual(JSONWriter.digitCount(v), String(v).count)
        }
        var w = JSONWriter()
        w.decimal(Int64.min); w.append(UInt8(ascii: " ")); w.decimal(Int32(-7)); w.append(UInt8(ascii: " ")); w.decimal(UInt8(255))
        XCTAssertEqual(w.text, "\(Int64.min) -7 255")
    }

    func testTimestampsMatchTheStringBuiltOnes() {
        var values: [Double] = [0, -1, -0.5, 1_795_796_948.123456, 951_782_400.5, -62_167_219_200, 253_402_300_799]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 { values.append(Double(Int64.random(in: -80_000_000_000...400_000_000_000, using: &generator)) / 1000) }
        for v in values { XCTAssertEqual(Timestamp.rfc3339(v), Self.rfc3339WithStrings(v), "\(v)") }
        // Outside years 0-9999 (RFC 3339's four digits) the nearer end is written.
        for v in [-62_198_755_200, -1e11] { XCTAssertEqual(Timestamp.rfc3339(v), "0000-01-01T00:00:00.000000Z", "\(v)") }
        for v in [253_402_300_800, 1e12] { XCTAssertEqual(Timestamp.rfc3339(v), "9999-12-31T23:59:59.999999Z", "\(v)") }
    }

    func testAddressesInRecordsMatchTheirDescription() {
        for text in ["0.0.0.0", "10.99.0.2", "255.255.255.255", "fd99::2", "::ffff:192.0.2.1", "2001:db8::1:0:0:1"] {
            let a = IPAddress(text)!
            var w = JSONWriter()
            a.appendJSON(into: &w)
            XCTAssertEqual(w.text, "\"\(a.description)\"")
        }
        // IPv6 written in place against the String-built text: random addresses with zero runs of
        // every length and place, and mapped ones.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            for g in 0..<8 where Int.random(in: 0..<3, using: &rng) == 0 { bytes[2 * g] = 0; bytes[2 * g + 1] = 0 }
            if Int.random(in: 0..<20, using: &rng) == 0 { for k in 0..<10 { bytes[k] = 0 }; bytes[10] = 0xff; bytes[11] = 0xff }
            if Int.random(in: 0..<4, using: &rng) == 0 { for g in 0..<8 where bytes[2 * g] < 0x10 { bytes[2 * g] = 0 } }
            let a = IPAddress(bytes: bytes[...])!
            var w = JSONWriter()
            a.appendJSON(into: &w)
            XCTAssertEqual(w.text, "\"\(IPAddress.formatV6(bytes))\"", "\(bytes)")
        }
    }

    /// The literals the encoder copies for enum values are their quoted raw values.
    func testEnumLiteralsAreTheQuotedRawValues() {
        func check(_ literal: StaticString, _ raw: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertEqual(literal.description, "\"" + raw + "\"", file: file, line: line)
        }
        for v in Hook.allCases { check(v.json, v.rawValue) }
        for v in TableFamily.allCases { check(v.json, v.rawValue) }
        for v in [PacketSummary.Family.ip, .ip6] { check(v.json, v.rawValue) }
        for v in [PathStep.Kind.rule, .jump, .goto, .return, .policy] { check(v.json, v.rawValue) }
        let verdicts: [StepVerdict] = [.accept, .drop, .continue, .jump, .goto, .return, .queue, .stolen, .repeat, .stop, .unknown]
        for v in verdicts { check(v.json, v.rawValue) }
        for v in [PacketVerdict.accept, .drop, .reject, .queue, .stolen, .unknown] { check(v.json, v.rawValue) }
    }

    func testHookReachabilityTablesMatchTheSuccessorGraph() {
        for from in Hook.allCases {
            for to in Hook.allCases {
                XCTAssertEqual(from.canReach(to), to == from || Hook.reachable[from]!.contains(to), "\(from) -> \(to)")
            }
            XCTAssertEqual(Set(from.reachableHooks), Hook.reachable[from]!)
        }
    }
}
