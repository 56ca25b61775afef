import Foundation
import XCTest

/// `fwtrace replay` on damaged captures: flipped bits, cut messages, lying attribute lengths,
/// absurd timestamps, garbage lines, an empty file, a huge line. Each run must end by itself
/// (within a timeout), never by a signal, with exit 0 (damage is reported in records) and JSON
/// lines only.
final class ReplayAbuseTests: XCTestCase {
    /// A small deterministic generator: the same mutations on every run.
    struct Generator { var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(max(bound, 1)))
        }
    }

    static func datagrams(_ scenario: String) throws -> [(time: String, hex: [UInt8])] {
        let url = ReplayCommandTests.fixtures.appendingPathComponent("\(ReplayCommandTests.kernel)-\(scenario).hex")
        return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
            let parts = $0.split(separator: " ")
            return (String(parts[0]), Array(parts[1].utf8))
        }
    }

    static func hexByte(_ v: Int) -> [UInt8] { Array(String(format: "%02x", v & 0xff).utf8) }

    /// Runs replay on `text`; fails on a signal, a hang, an exit code other than 0 or a non-JSON
    /// line. Returns the records printed.
    @discardableResult
    func replay(_ text: String, _ what: String, timeout: TimeInterval = 30) throws -> [[String: Any]] {
        let path = NSTemporaryDirectory() + "fwt-replay-abuse-\(UUID().uuidString).hex"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let out = NSTemporaryDirectory() + "fwt-replay-abuse-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: out) }
        FileManager.default.createFile(atPath: out, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: E2E.binary)
        process.arguments = ["replay", path, "--format", "json"]
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            XCTFail("\(what): replay still running after \(timeout) s")
            return []
        }
        XCTAssertEqual(process.terminationReason, .exit, "\(what): killed by signal \(process.terminationStatus)")
        XCTAssertEqual(process.terminationStatus, 0, "\(what): exit status")
        let printed = try String(contentsOfFile: out, encoding: .utf8)
        var records: [[String: Any]] = []
        for line in printed.split(separator: "\n") {
            guard let record = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                XCTFail("\(what): not a JSON line: \(line.prefix(200))")
                return []
            }
            records.append(record)
        }
        XCTAssertTrue(printed.contains(#""event":"ended""#), "\(what): no ended record")
        return records
    }

    /// The `loss` records with reason decode-error in `records`.
    static func decodeErrors(_ records: [[String: Any]]) -> Int {
        records.filter { $0["type"] as? String == "loss" && $0["reason"] as? String == "decode-error" }.count
    }

    static func lines(_ datagrams: [(time: String, hex: [UInt8])]) -> String {
        datagrams.map { "\($0.time) \(String(decoding: $0.hex, as: UTF8.self))\n" }.joined()
    }

    func testFlippedBitsCutMessagesAndLyingLengths() throws {
        var random = Generator(state: 13)
        for scenario in ["v4-tcp-dnat", "v6-udp-hopopts-accept", "legacy-v4-fail2ban-return-reject-and-dnat", "legacy-v4-ack-accepted-and-ct-invalid"] {
            let original = try Self.datagrams(scenario)
            for round in 0..<12 {
                var flipped = original, cut = original, lying = original
                for _ in 0..<8 {
                    let i = random.next(original.count)
                    // A flipped bit: one hex digit xor a power of two, still a hex digit.
                    let at = random.next(flipped[i].hex.count)
                    let digit = Int(String(UnicodeScalar(flipped[i].hex[at])), radix: 16)! ^ (1 << random.next(4))
                    flipped[i].hex[at] = Array(String(digit, radix: 16).utf8)[0]
                    // A cut message: the datagram ends early, at a whole byte.
                    cut[i].hex = Array(cut[i].hex.prefix(2 * random.next(cut[i].hex.count / 2)))
                    // A lying length: a netlink or attribute length field set to something large or tiny.
                    let offsets = [0, 20, 24, 28, 32] + [2 * random.next(lying[i].hex.count / 2)].map { $0 / 2 }
                    let offset = offsets[random.next(offsets.count)]
                    if 2 * offset + 4 <= lying[i].hex.count {
                        let value = [0xffff, 0x0000, 0x0004, 0x8000, 0x0104][random.next(5)]
                        lying[i].hex.replaceSubrange((2 * offset)..<(2 * offset + 4), with: Self.hexByte(value) + Self.hexByte(value >> 8))
                    }
                }
                try replay(Self.lines(flipped), "\(scenario) flipped bits, round \(round)")
                try replay(Self.lines(cut), "\(scenario) cut messages, round \(round)")
                try replay(Self.lines(lying), "\(scenario) lying lengths, round \(round)")
            }
        }
    }

    func testAbsurdTimesGarbageEmptyAndHugeLines() throws {
        let nft = try Self.datagrams("v4-tcp-jump-reject-fail2ban"), legacy = try Self.datagrams("legacy-v4-ack-accepted-and-ct-invalid")
        for (name, original) in [("nft", nft), ("legacy", legacy)] {
            for time in ["18446744073709551615", "18446744073709551615.999999", "-1", "nan", "inf", "1e308", "0", "0x10"] {
                var d = original
                d[d.count / 2].time = time
                try replay(Self.lines(d), "\(name): time \(time)")
            }
            let ff = try replay(Self.lines(original.map { ($0.time, $0.hex.map { _ in UInt8(ascii: "f") }) }), "\(name): every byte 0xff")
            // No datagram can be framed: each is a decode-error loss, none a path.
            XCTAssertEqual(Self.decodeErrors(ff), original.count, "\(name): every byte 0xff")
            XCTAssertFalse(ff.contains { $0["type"] as? String == "path" }, "\(name): every byte 0xff")
        }
        // NFULA_TIMESTAMP (type 3) of 2^64-1 s in every legacy message.
        try replay(Self.lines(legacy.map { ($0.time, Self.withTimestamp(0xff, in: $0.hex)) }), "legacy: timestamp 2^64-1 s")
        let garbage = ["hello world", "1.0", "1.0 zz", "1.0 abc", " 1.0 00", "1.0 00 00", "\u{0}\u{1}\u{2}", String(repeating: "#", count: 10_000), "1.0 "]
        let records = try replay(garbage.joined(separator: "\n") + "\n" + Self.lines(nft), "garbage lines")
        // One capture-malformed error per line that is neither a datagram nor a comment (line 8,
        // the #s), naming its line; the datagrams after them still replay.
        let malformed = records.filter { $0["type"] as? String == "error" && $0["code"] as? String == "capture-malformed" }
        XCTAssertEqual(malformed.compactMap { ($0["message"] as? String)?.split(separator: ":").first.map(String.init) },
                       [1, 2, 3, 4, 5, 6, 7, 9].map { "capture line \($0)" })
        XCTAssertTrue(records.contains { $0["type"] as? String == "path" }, "garbage lines: the datagrams after them replay")
        try replay("", "an empty file")
        try replay("# only a comment\n", "a comment")
        try replay("1.0 " + String(repeating: "00", count: 8 << 20) + "\n" + Self.lines(nft), "a huge line of zeros")
        try replay(String(repeating: "a", count: 16 << 20), "a huge line without a space")
    }

    /// The hex of a legacy datagram whose NFULA_TIMESTAMP attributes hold `byte` in every byte.
    static func withTimestamp(_ byte: Int, in hex: [UInt8]) -> [UInt8] {
        var bytes = stride(from: 0, to: hex.count - 1, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
        var message = 0
        while message + 20 <= bytes.count {
            let length = Int(bytes[message]) | Int(bytes[message + 1]) << 8
            guard length >= 20, message + length <= bytes.count else { break }
            var attribute = message + 20
            while attribute + 4 <= message + length {
                let size = Int(bytes[attribute]) | Int(bytes[attribute + 1]) << 8
                guard size >= 4 else { break }
                if (Int(bytes[attribute + 2]) | Int(bytes[attribute + 3]) << 8) & 0x7fff == 3, attribute + size <= bytes.count {
                    for i in (attribute + 4)..<(attribute + size) { bytes[i] = UInt8(byte) }
                }
                attribute += (size + 3) & ~3
            }
            message += (length + 3) & ~3
        }
        return bytes.flatMap { hexByte(Int($0)) }
    }
}
