import Foundation
import XCTest
@testable import FWTraceCore

/// The owner fixtures (Fixtures/owners/<tool>) replayed with their hints: every tool state the
/// folder holds is given, as follow reads it (and fail2ban's ban times, which follow does not read).
extension OwnerFixture {
    /// All the tool state this folder has.
    var fullState: ToolState {
        var state = ToolState()
        state.ufwUserRules = text("tool-etc-ufw-user.rules.txt")
        state.ufwUserRules6 = text("tool-etc-ufw-user6.rules.txt")
        state.ufwStatusNumbered = text("tool-ufw-status-numbered.txt")
        state.firewalldZones = text("tool-firewall-cmd-list-all-zones.txt")
        state.shorewallZones = text("tool-etc-shorewall-zones.txt")
        state.containers = ["tool-podman-ps.json", "tool-podman-inspect.json"].compactMap(text)
        return state
    }

    /// fail2ban-client's `get sshd banip --with-time`, where captured.
    var bans: [String: String] {
        text("tool-fail2ban-client-get-sshd-banip-with-time.txt").map { ["sshd": $0] } ?? [:]
    }

    /// The names of the traces (`trace-NAME.hex`).
    var traces: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix("trace-") && $0.hasSuffix(".hex") }
            .map { String($0.dropFirst(6).dropLast(4)) }.sorted()
    }

    /// The hint context follow builds for this ruleset and state.
    func hintContext(_ state: ToolState, bans: [String: String], legacy: Bool) -> HintContext {
        var context: HintContext
        if legacy {
            let ruleset = self.legacy
            context = HintContext(rules: { ruleset.rulesInChain($0, $1, $2) }, listening: { _, _, _ in nil })
        } else {
            let catalog = self.catalog
            context = HintContext(rules: { catalog.rulesInChain($0, $1, $2) }, listening: { _, _, _ in nil })
        }
        context.tools = state
        context.fail2banBans = bans
        return context
    }

    /// The one path of the trace, with its hints.
    func hinted(_ name: String, state: ToolState? = nil, bans: [String: String]? = nil) throws -> PacketPath {
        let state = state ?? fullState
        var path = try path(name, state: state)
        let legacy = CaptureReplay(text: Array(try require("trace-\(name).hex").utf8)).backend == .legacy
        path.hints = HintEngine.hints(for: path, context: hintContext(state, bans: bans ?? self.bans, legacy: legacy))
        return path
    }

    /// The owners of this folder's rules, on either backend.
    func ownerMap(legacy: Bool) -> OwnerMap {
        OwnerMap(ruleset: legacy ? self.legacy : catalog, state: fullState)
    }
}

extension PacketPath {
    func hint(_ code: String) -> Hint? { hints.first { $0.code == code } }
}

extension Hint {
    func value(_ key: String) -> String? { evidence.first { $0.0 == key }?.1 }
}
