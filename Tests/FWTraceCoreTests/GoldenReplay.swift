import Foundation
@testable import FWTraceCore

/// A fixture replayed through the one pipeline (CaptureReplay, as `fwtrace replay` runs it) and
/// encoded as `follow` prints it. The context is fixed (host "golden"; the session id from
/// fwtrace's table name, "replay" on legacy, whose messages do not name it); interfaces as
/// KernelFixture names them; no listening-socket or conntrack knowledge (offline). The session
/// records are left out: what they carry comes from the run, not from the messages.
enum GoldenReplay {
    static func context(backend: String, session: String) -> RecordContext {
        RecordContext(host: "golden", netns: nil, backend: backend, session: session)
    }

    static func lines(_ scenario: String) throws -> [String] {
        let base = KernelFixture.directory().appendingPathComponent("\(KernelFixture.kernel)-\(scenario)")
        let replay = CaptureReplay(text: Array(try Data(contentsOf: base.appendingPathExtension("hex"))))
        func text(_ suffix: String) -> String {
            (try? String(contentsOf: URL(fileURLWithPath: base.path + suffix), encoding: .utf8)) ?? ""
        }
        let ruleset: Ruleset
        switch replay.backend {
        case .nft: ruleset = try KernelFixture.load(scenario).ruleset
        case .legacy: ruleset = Ruleset.parse(iptablesSave: text(".iptables-save.txt"), ip6tablesSave: text(".ip6tables-save.txt")).withOwners(ToolState())
        }
        var options = TracePipeline.Options()
        options.interfaceName = KernelFixture.interfaceNames
        let context = context(backend: replay.backend.rawValue, session: replay.session)
        var lines: [String] = []
        replay.run(ruleset: ruleset, options: options, nflog: replay.backend == .legacy ? try Nflog.decoder() : nil) { output in
            switch output {
            case .record(.path(let path), _): lines.append(RecordEncoder.path(path, context: context))
            case .record(.loss(let count, let reason, let detail), let time):
                lines.append(RecordEncoder.loss(count: count, reason: reason, detail: detail, time: time, context: context))
            case .malformed(let message, let time):
                lines.append(RecordEncoder.error(message: message, code: "capture-malformed", time: time, context: context))
            case .started, .ended, .record(.started, _): break
            }
        }
        return lines
    }
}
