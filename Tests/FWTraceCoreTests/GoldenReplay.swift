import Foundation
@testable import FWTraceCore

/// A fixture replayed as `follow` prints it: decode, assemble, hints, JSON lines. The context is
/// fixed (host "golden"; the session id from fwtrace's table name, "replay" on legacy, whose
/// messages do not name it); interfaces as KernelFixture names them; no listening-socket or
/// conntrack knowledge (offline, as `fwtrace replay`).
enum GoldenReplay {
    static func context(backend: String, session: String) -> RecordContext {
        RecordContext(host: "golden", netns: nil, backend: backend, session: session)
    }

    static func lines(_ scenario: String) throws -> [String] {
        scenario.hasPrefix("legacy-") ? try legacyLines(scenario) : try nftLines(scenario)
    }

    static func nftLines(_ scenario: String) throws -> [String] {
        let fixture = try KernelFixture.load(scenario)
        let table = try fixture.ownTable()
        let context = context(backend: "nft", session: String(table.dropFirst("fwtrace_".count)))
        let hints = HintContext(rules: { fixture.catalog.rulesInChain($0, $1, $2) }, listening: { _, _, _ in nil })
        return try fixture.paths().map { path in
            var path = path
            path.hints = HintEngine.hints(for: path, context: hints)
            return RecordEncoder.path(path, context: context)
        }
    }

    static func legacyLines(_ scenario: String) throws -> [String] {
        let base = KernelFixture.directory().appendingPathComponent("\(KernelFixture.kernel)-\(scenario)")
        let capture = try CaptureFormat.parse(try String(contentsOf: base.appendingPathExtension("hex"), encoding: .utf8))
        func text(_ suffix: String) -> String {
            (try? String(contentsOf: URL(fileURLWithPath: base.path + suffix), encoding: .utf8)) ?? ""
        }
        let ruleset = LegacyRuleset.parse(ipv4: text(".iptables-save.txt"), ipv6: text(".ip6tables-save.txt"))
        let assembler = LegacyPathAssembler(ruleset: ruleset)
        assembler.interfaceName = KernelFixture.interfaceNames
        let context = context(backend: "legacy", session: "replay")
        let hints = HintContext(rules: { ruleset.rulesInChain($0, $1, $2) }, listening: { _, _, _ in nil })
        var paths: [PacketPath] = []
        for d in capture {
            for m in try NetlinkMessage.split(d.bytes) where m.type == NflogDecoder.messageType {
                let logged = try NflogDecoder.decode(d.bytes, body: m.body)
                guard let prefix = logged.prefix else { continue }
                if let trace = LegacyTracePrefix.parse(prefix) {
                    paths += assembler.ingest(logged, trace: trace, at: d.time)
                } else {
                    assembler.noteConntrackInvalid(logged)
                }
            }
        }
        return (paths + assembler.flush()).map { path in
            var path = path
            path.hints = HintEngine.hints(for: path, context: hints)
            return RecordEncoder.path(path, context: context)
        }
    }
}
