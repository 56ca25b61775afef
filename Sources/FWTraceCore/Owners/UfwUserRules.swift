import Foundation

/// ufw's user rules as its own files record them: each `### tuple ###` line of
/// /etc/ufw/user.rules and user6.rules, the iptables rules written under it, and the number
/// `ufw status numbered` gives it.
///
/// Follows ufw 0.36.2 (Debian 12), src/backend_iptables.py: `_read_rules` parses the tuples
/// (`action proto dport dst sport src [dapp sapp] direction[_iface]`, `route:` for route rules,
/// ` comment=HEX` last), `_write_rules` writes each tuple's `-A ufw-user-…` lines right after
/// it; `get_status` numbers the rules of user.rules, then user6.rules, from 1, counting an app
/// rule whose get_app_tuple (src/common.py) was seen already not again.
struct UfwUserRules: Sendable {
    struct Tuple: Sendable, Equatable {
        var number: Int
        var action: String
        var logtype: String
        var forward: Bool
        var proto, dport, dst, sport, src: String
        var dapp, sapp: String
        var direction: String
        var interfaceIn, interfaceOut: String
        var comment: String
        var v6: Bool
    }

    struct Place: Hashable { var chain: String; var position: Int }

    /// The tuple whose iptables rule is at this place (chain, 1-based position).
    private(set) var byPlace: [Place: Tuple] = [:]
    private(set) var tuples: [Tuple] = []

    init(v4: String?, v6: String?) {
        var number = 0
        var seenApps: Set<String> = []
        for (text, isV6) in [(v4, false), (v6, true)] {
            guard let text else { continue }
            // Each chain's rules in file order (`-I` inserts, as iptables-restore does), with
            // the tuple they were written under.
            var lists: [String: [Tuple?]] = [:]
            var current: Tuple?
            for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("### tuple ###") {
                    current = Self.parseTuple(line, v6: isV6).map { numbered($0, &number, &seenApps) }
                    if let current { tuples.append(current) }
                    continue
                }
                if line.hasPrefix("### END RULES") { current = nil; continue }
                guard line.hasPrefix("-A ") || line.hasPrefix("-I ") else { continue }
                let words = line.split(separator: " ")
                guard words.count >= 2 else { continue }
                let chain = String(words[1])
                if line.hasPrefix("-A ") {
                    lists[chain, default: []].append(current)
                } else {
                    let at = words.count > 2 ? Int(words[2]).map { $0 - 1 } ?? 0 : 0
                    lists[chain, default: []].insert(current, at: min(max(at, 0), lists[chain, default: []].count))
                }
            }
            for (chain, list) in lists {
                for (i, tuple) in list.enumerated() { if let tuple { byPlace[Place(chain: chain, position: i + 1)] = tuple } }
            }
        }
    }

    /// The tuple with its `status numbered` number: an app rule already shown shares its number.
    private func numbered(_ tuple: Tuple, _ number: inout Int, _ seenApps: inout Set<String>) -> Tuple {
        var tuple = tuple
        let app = Self.appKey(tuple)
        if let app, seenApps.contains(app) {
            tuple.number = tuples.last { Self.appKey($0) == app }?.number ?? number
        } else {
            if let app { seenApps.insert(app) }
            number += 1
            tuple.number = number
        }
        return tuple
    }

    func tuple(chain: String, position: Int) -> Tuple? { byPlace[Place(chain: chain, position: position)] }

    static func parseTuple(_ line: String, v6: Bool) -> Tuple? {
        var body = String(line.dropFirst("### tuple ###".count))
        var comment = ""
        if let range = body.range(of: " comment=") {
            comment = Self.unhex(String(body[range.upperBound...]).trimmingCharacters(in: .whitespaces))
            body = String(body[..<range.lowerBound])
        }
        let f = body.split(separator: " ").map(String.init)
        guard f.count >= 6, f.count <= 9 else { return nil }
        var action = f[0], forward = false, logtype = ""
        if action.hasPrefix("route:") { forward = true; action = String(action.dropFirst(6)) }
        if let underscore = action.firstIndex(of: "_") {
            logtype = String(action[action.index(after: underscore)...])
            action = String(action[..<underscore])
        }
        var direction = "in", interfaceIn = "", interfaceOut = ""
        if f.count == 7 || f.count == 9 {
            let last = f[f.count - 1]
            direction = String(last.prefix { $0 != "_" })
            for part in last.split(separator: "!") {
                if part.hasPrefix("in_") { interfaceIn = String(part.dropFirst(3)) }
                if part.hasPrefix("out_") { interfaceOut = String(part.dropFirst(4)) }
            }
        }
        let app = { (s: String) in s == "-" ? "" : s.replacingOccurrences(of: "%20", with: " ") }
        return Tuple(number: 0, action: action, logtype: logtype, forward: forward, proto: f[1], dport: f[2], dst: f[3],
                     sport: f[4], src: f[5], dapp: f.count >= 8 ? app(f[6]) : "", sapp: f.count >= 8 ? app(f[7]) : "",
                     direction: direction, interfaceIn: interfaceIn, interfaceOut: interfaceOut, comment: comment, v6: v6)
    }

    /// get_app_tuple: an app rule's identity, under which `status` shows it once.
    static func appKey(_ t: Tuple) -> String? {
        guard !t.dapp.isEmpty || !t.sapp.isEmpty else { return nil }
        var key = "\(t.dapp.isEmpty ? t.dport : t.dapp) \(t.dst) \(t.sapp.isEmpty ? t.sport : t.sapp) \(t.src)"
        if t.interfaceIn.isEmpty && t.interfaceOut.isEmpty { key += " \(t.direction)" }
        else { key += " \(t.interfaceIn) \(t.interfaceOut)" }
        return key
    }

    /// ufw stores comments hex-encoded (UFWRule.get_comment decodes them).
    static func unhex(_ s: String) -> String {
        var bytes: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex, let j = s.index(i, offsetBy: 2, limitedBy: s.endIndex), let b = UInt8(s[i..<j], radix: 16) {
            bytes.append(b); i = j
        }
        return i == s.endIndex ? String(decoding: bytes, as: UTF8.self) : s
    }
}
