/// What the hints know of the firewall managers' own state (docs/hints.md, "In the owner's
/// language"): ufw's user rules (to write a fix as a `ufw` command), firewalld's zones (which
/// zone has the port open), fail2ban's bans (since when). Parsed once per state, not per path.
final class HintTools: Sendable {
    let state: ToolState
    let ufw: UfwUserRules
    let zones: FirewalldZones
    /// jail → address → (since, until), from `fail2ban-client get JAIL banip --with-time`.
    let bans: [String: [String: (since: String, until: String)]]

    init(_ state: ToolState, fail2banBans: [String: String] = [:]) {
        self.state = state
        ufw = UfwUserRules(v4: state.ufwUserRules, v6: state.ufwUserRules6)
        zones = FirewalldZones(text: state.firewalldZones, xml: state.firewalldZoneXML, services: state.firewalldServices)
        bans = fail2banBans.mapValues(Self.parseBans)
    }

    /// fail2ban 1.0.2's `get JAIL banip --with-time` (server/actions.py `getBanList(withTime=True)`):
    /// one line per ban, `ADDR \tSTART + SECONDS = END` (local times as `%Y-%m-%d %H:%M:%S`).
    static func parseBans(_ text: String) -> [String: (since: String, until: String)] {
        var out: [String: (since: String, until: String)] = [:]
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard let space = line.firstIndex(where: { $0 == " " || $0 == "\t" }) else { continue }
            let address = String(line[..<space])
            let rest = line[space...].trimmingCharacters(in: .whitespaces)
            guard let plus = rest.range(of: " + "), let equals = rest.range(of: " = ") else { continue }
            out[address] = (String(rest[..<plus.lowerBound]), String(rest[equals.upperBound...]))
        }
        return out
    }

    /// The ufw tuple `ufw status numbered` shows as this number (IPv6 rules have their own).
    func ufwTuple(number: Int) -> UfwUserRules.Tuple? { ufw.tuples.first { $0.number == number } }
}

extension HintContext {
    /// The managers' state the hints read (the same the owners were named from).
    public var tools: ToolState {
        get { toolState.state }
        set { toolState = HintTools(newValue, fail2banBans: fail2banBans) }
    }

    /// fail2ban's bans with their times, by jail: `fail2ban-client get JAIL banip --with-time`.
    public var fail2banBans: [String: String] {
        get { banTexts }
        set { banTexts = newValue; toolState = HintTools(toolState.state, fail2banBans: newValue) }
    }
}
