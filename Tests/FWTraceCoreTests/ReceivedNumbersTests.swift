import Foundation
import XCTest
@testable import FWTraceCore

/// Numbers the kernel sends are untrusted: no value of any field may trap anywhere from the
/// decoder to the JSON line (a trap ends the session with its legacy rules still installed).
final class ReceivedNumbersTests: XCTestCase {
    typealias Datagram = CaptureFormat.Datagram

    static func capture(_ name: String) throws -> [Datagram] {
        let url = KernelFixture.directory().appendingPathComponent("\(KernelFixture.kernel)-\(name).hex")
        return try CaptureFormat.parse(try String(contentsOf: url, encoding: .utf8))
    }

    static func legacyRuleset(_ name: String) throws -> Ruleset {
        let url = KernelFixture.directory().appendingPathComponent("\(KernelFixture.kernel)-\(name).iptables-save.txt")
        return Ruleset.parse(iptablesSave: try String(contentsOf: url, encoding: .utf8))
    }

    /// decode -> assemble -> hints -> JSON and text, as a legacy `follow` runs them; the records.
    static func legacyRecords(_ datagrams: [Datagram], ruleset: Ruleset) -> [String] {
        let assembler = LegacyPathAssembler(ruleset: ruleset)
        let hints = HintContext(rules: { assembler.ruleset.rulesInChain($0, $1, $2) }, listening: { _, _, _ in nil })
        var paths: [PacketPath] = []
        for d in datagrams {
            guard let messages = try? NetlinkMessage.split(d.bytes) else { continue }
            for m in messages where m.type == NflogMessage.netlinkType {
                guard let logged = try? Nflog.decode(d.bytes, m), let prefix = logged.prefix else { continue }
                if let trace = LegacyTracePrefix.parse(prefix) {
                    paths += assembler.ingest(logged, trace: trace, at: d.time)
                } else {
                    assembler.noteConntrackInvalid(logged)
                }
            }
            paths += assembler.expire(now: d.time)
        }
        return render(paths + assembler.flush(), hints: hints)
    }

    /// The same for the nft backend.
    static func nftRecords(_ datagrams: [Datagram], ownTable: String, ruleset: Ruleset) -> [String] {
        var config = PathAssembler.Configuration(ownTable: ownTable)
        config.filterProtocol = 6
        let assembler = PathAssembler(configuration: config, ruleset: ruleset)
        assembler.interfaceName = { [1: "lo", 2: "fwtcap1"][$0] }
        let hints = HintContext(rules: { ruleset.rulesInChain($0, $1, $2) }, listening: { _, _, _ in nil })
        let names = NameCache()
        var paths: [PacketPath] = []
        for d in datagrams {
            try? NetlinkMessage.forEach(in: d.bytes) { m in
                guard m.type == NftTraceDecoder.messageType,
                      let event = try? NftTraceDecoder.decode(d.bytes, body: m.body, names: names) else { return }
                paths += assembler.ingest(event, at: d.time)
            }
            paths += assembler.expire(now: d.time)
        }
        return render(paths + assembler.flush(), hints: hints)
    }

    static func render(_ paths: [PacketPath], hints: HintContext) -> [String] {
        let context = RecordContext(host: "h", netns: nil, backend: "legacy", session: "s")
        let view = TextView(color: false)
        return paths.map { p in
            var p = p
            p.hints = HintEngine.hints(for: p, context: hints)
            _ = view.render(p, netns: nil)
            return RecordEncoder.path(p, context: context)
        }
    }

    /// Where NFULA_TIMESTAMP's payload (be64 seconds, be64 microseconds) lies in each message.
    static func timestampOffsets(_ bytes: [UInt8]) throws -> [Int] {
        var out: [Int] = []
        for m in try NetlinkMessage.split(bytes) where m.type == NflogMessage.netlinkType {
            var reader = AttributeReader(bytes, range: (m.body.lowerBound + 4)..<m.body.upperBound)
            while let a = try reader.next() { if a.type == 3 /* NFULA_TIMESTAMP */ { out.append(a.payload.lowerBound) } }
        }
        return out
    }

    static func patch(_ bytes: inout [UInt8], at offset: Int, be64 value: UInt64) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64(i))) }
    }

    static func time(of record: String) -> String? {
        guard let range = record.range(of: "\"time\":\"") else { return nil }
        return String(record[range.upperBound...].prefix(27))
    }

    // MARK: - The fuzzer's input

    /// The fuzzer's find: a TRACE message whose NFULA_TIMESTAMP seconds are 2^64-1 trapped in the
    /// timestamp's conversion to microseconds. Such a time (and any more than an hour away from
    /// the receive time) gives way to the receive time.
    func testHugeTimestampSecondsFallBackToTheReceiveTime() throws {
        let name = "legacy-v4-fail2ban-return-reject-and-dnat"
        var datagrams = try Self.capture(name)
        for i in datagrams.indices {
            for offset in try Self.timestampOffsets(datagrams[i].bytes) { Self.patch(&datagrams[i].bytes, at: offset, be64: .max) }
        }
        let records = Self.legacyRecords(datagrams, ruleset: try Self.legacyRuleset(name))
        XCTAssertEqual(records.count, 2)
        // The first message of each packet was received at ...389.086744 and ...389.309030.
        XCTAssertEqual(records.map(Self.time(of:)), ["2026-11-27T18:16:29.086744Z", "2026-11-27T18:16:29.309030Z"])
        XCTAssertEqual(records.map { $0.contains("\"verdict\":\"reject\"") }, [true, false])
    }

    func testHugeTimestampMicrosecondsAndOtherNonsenseFallBackToTheReceiveTime() throws {
        let name = "legacy-v4-fail2ban-return-reject-and-dnat"
        let ruleset = try Self.legacyRuleset(name)
        // (seconds, microseconds): usec of 2^64-1, a time in 1970 (another clock), one far ahead.
        for (seconds, micros) in [(UInt64(1_795_803_389), UInt64.max), (0, 0), (1_000, 5), (1_795_803_389 + 86_400, 0),
                                  (UInt64(1) << 53, 999_999), (UInt64(Int64.max), 0)] {
            var datagrams = try Self.capture(name)
            for i in datagrams.indices {
                for offset in try Self.timestampOffsets(datagrams[i].bytes) {
                    Self.patch(&datagrams[i].bytes, at: offset, be64: seconds)
                    Self.patch(&datagrams[i].bytes, at: offset + 8, be64: micros)
                }
            }
            let records = Self.legacyRecords(datagrams, ruleset: ruleset)
            XCTAssertEqual(records.map(Self.time(of:)), ["2026-11-27T18:16:29.086744Z", "2026-11-27T18:16:29.309030Z"], "\(seconds) s \(micros) us")
        }
    }

    func testAKernelTimestampNearTheReceiveTimeIsKept() throws {
        let name = "legacy-v4-fail2ban-return-reject-and-dnat"
        let records = Self.legacyRecords(try Self.capture(name), ruleset: try Self.legacyRuleset(name))
        // The kernel's own times (NFULA_TIMESTAMP 1795803389 s 86554 us and 308216 us).
        XCTAssertEqual(records.map(Self.time(of:)), ["2026-11-27T18:16:29.086554Z", "2026-11-27T18:16:29.308216Z"])
    }

    func testTimestampTextIsTotal() {
        // Whatever a time is, its text is a valid RFC 3339 time of 27 bytes: clamped to years 0-9999.
        XCTAssertEqual(Timestamp.rfc3339(1_795_803_389.086554), "2026-11-27T18:16:29.086554Z")
        XCTAssertEqual(Timestamp.rfc3339(0), "1970-01-01T00:00:00.000000Z")
        XCTAssertEqual(Timestamp.rfc3339(Double(UInt64.max)), "9999-12-31T23:59:59.999999Z")
        XCTAssertEqual(Timestamp.rfc3339(.infinity), "9999-12-31T23:59:59.999999Z")
        XCTAssertEqual(Timestamp.rfc3339(.greatestFiniteMagnitude), "9999-12-31T23:59:59.999999Z")
        XCTAssertEqual(Timestamp.rfc3339(-.infinity), "0000-01-01T00:00:00.000000Z")
        XCTAssertEqual(Timestamp.rfc3339(-1e300), "0000-01-01T00:00:00.000000Z")
        XCTAssertEqual(Timestamp.rfc3339(.nan), "1970-01-01T00:00:00.000000Z")
        XCTAssertEqual(Timestamp.rfc3339(253_402_300_799.999999), "9999-12-31T23:59:59.999999Z")
    }

    func testLegacyTimestampPlausibility() {
        XCTAssertEqual(LegacyPathAssembler.eventTime(kernel: 100_000.5, received: 100_001), 100_000.5)
        XCTAssertEqual(LegacyPathAssembler.eventTime(kernel: nil, received: 100_001), 100_001)
        XCTAssertEqual(LegacyPathAssembler.eventTime(kernel: 100_001 - 3_601, received: 100_001), 100_001)
        XCTAssertEqual(LegacyPathAssembler.eventTime(kernel: 100_001 + 61, received: 100_001), 100_001)
        XCTAssertEqual(LegacyPathAssembler.eventTime(kernel: .nan, received: 100_001), 100_001)
        XCTAssertEqual(LegacyPathAssembler.eventTime(kernel: .infinity, received: 100_001), 100_001)
    }

    func testChainPrioritiesFromAListingNeverOverflow() {
        // nft prints int32 priorities; a listing that says more is not believed, nor summed.
        XCTAssertEqual(Ruleset.parsePriority("filter + 10"), 10)
        XCTAssertEqual(Ruleset.parsePriority("-2147483648 - 2147483647"), -4_294_967_295)
        XCTAssertNil(Ruleset.parsePriority("9223372036854775807 + 9223372036854775807"))
        XCTAssertEqual(Ruleset.parsePriority("filter + 9223372036854775807"), 0)
    }

    // MARK: - A small deterministic fuzzer

    /// SplitMix64: the same sequence on every run and machine.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    /// Changes a few bytes of one datagram: a random byte, 0x00 or 0xff, a run of 0xff (a
    /// maximal be64/be32), or a cut. Mostly past the netlink header, where the values are.
    static func mutate(_ bytes: inout [UInt8], _ rng: inout SplitMix64) {
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            guard bytes.count > 20 else { return }
            let low = Int.random(in: 0..<8, using: &rng) == 0 ? 0 : 16
            let at = Int.random(in: low..<bytes.count, using: &rng)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0...3: bytes[at] = UInt8.random(in: 0...255, using: &rng)
            case 4: bytes[at] = 0
            case 5: bytes[at] = 0xff
            case 6, 7: for i in at..<min(bytes.count, at + Int.random(in: 2...8, using: &rng)) { bytes[i] = 0xff }
            case 8: bytes[at] ^= 1 << UInt8.random(in: 0...7, using: &rng)
            default: if Int.random(in: 0..<4, using: &rng) == 0 { bytes.removeLast(bytes.count - at) }
            }
        }
    }

    func testFuzzedCapturesNeverTrap() throws {
        var rng = SplitMix64(state: 0x6677_7472_6163_6531)
        let legacy = try ["legacy-v4-fail2ban-return-reject-and-dnat", "legacy-v4-ack-accepted-and-ct-invalid"].map {
            (datagrams: try Self.capture($0), ruleset: try Self.legacyRuleset($0))
        }
        let nft = try KernelFixture.allScenarios.map { name -> (datagrams: [Datagram], table: String, ruleset: Ruleset) in
            let fixture = try KernelFixture.load(name)
            return (fixture.datagrams, try fixture.ownTable(), fixture.ruleset)
        }
        XCTAssertFalse(nft.isEmpty)
        var records = 0
        for iteration in 0..<3000 {
            if iteration % 2 == 0 {
                let capture = legacy[Int.random(in: 0..<legacy.count, using: &rng)]
                var datagrams = capture.datagrams
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    Self.mutate(&datagrams[Int.random(in: 0..<datagrams.count, using: &rng)].bytes, &rng)
                }
                records += Self.legacyRecords(datagrams, ruleset: capture.ruleset).count
            } else {
                let capture = nft[Int.random(in: 0..<nft.count, using: &rng)]
                var datagrams = capture.datagrams
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    Self.mutate(&datagrams[Int.random(in: 0..<datagrams.count, using: &rng)].bytes, &rng)
                }
                records += Self.nftRecords(datagrams, ownTable: capture.table, ruleset: capture.ruleset).count
            }
        }
        // Most mutated captures still make paths: the pipeline was reached, not only the decoder.
        XCTAssertGreaterThan(records, 3000)
    }
}
