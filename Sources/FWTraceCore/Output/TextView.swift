import Foundation

/// The readable view of a path for a terminal: a header line, one line per step.
public struct TextView: Sendable {
    public var color: Bool
    public init(color: Bool) { self.color = color }

    func paint(_ s: String, _ code: String) -> String { color ? "\u{1b}[\(code)m\(s)\u{1b}[0m" : s }

    public func render(_ p: PacketPath, netns: String?) -> String {
        let time = Timestamp.rfc3339(p.time)
        var header = "\(time)  \(p.packet.protocolName) "
        let src = p.packet.sport.map { "\(p.packet.src):\($0)" } ?? "\(p.packet.src)"
        let dst = p.packet.dport.map { "\(p.packet.dst):\($0)" } ?? "\(p.packet.dst)"
        header += "\(src) → \(dst)"
        if !p.packet.tcpFlagList.isEmpty { header += " [\(p.packet.tcpFlagList.joined(separator: ","))]" }
        if let t = p.packet.icmpType { header += " type \(t) code \(p.packet.icmpCode ?? 0)" }
        if let iif = p.iif { header += " in \(iif)" }
        if let oif = p.oif { header += " out \(oif)" }
        if let ct = p.conntrack?.state { header += " ct \(ct)" }
        if let mark = p.mark, mark != 0 { header += " mark \(Self.hex(mark))" }
        if let netns { header += " netns \(netns)" }
        let verdictColor = p.verdict == .accept ? "32" : (p.verdict == .unknown ? "33" : "31")
        header += "  " + paint(p.verdict.rawValue.uppercased(), "1;" + verdictColor)
        if p.incomplete { header += " (incomplete)" }
        var lines = [header]
        let marks = Self.marksAfterSteps(p)
        for (index, s) in p.steps.enumerated() {
            let place = "\(s.hook.rawValue) \(s.tableFamily.rawValue) \(s.table)/\(s.chain)"
            var line = "  " + place.padding(toLength: max(place.count, 36), withPad: " ", startingAt: 0)
            switch s.kind {
            case .policy: line += " policy"
            case .return where s.rule == nil: line += " end of chain, back to caller"
            default: line += s.rule.map { " #\($0)" } ?? (s.handle.map { " handle \($0)" } ?? "")
            }
            if let text = s.text { line += "  " + paint(text, "2") }
            var verdict = s.verdict.rawValue
            if let target = s.target { verdict += " \(target)" }
            line += "  → " + (index == p.decidedBy ? paint(verdict, "1;" + verdictColor) : verdict)
            if let nat = s.nat {
                line += "  [nat \(nat.before.dst)\(nat.before.dport.map { ":\($0)" } ?? "") ⇒ \(nat.after.dst)\(nat.after.dport.map { ":\($0)" } ?? "")"
                if nat.before.src != nat.after.src { line += ", src \(nat.before.src) ⇒ \(nat.after.src)" }
                line += "]"
            }
            let markBefore = index == 0 ? marks.before : marks.after[index - 1]
            if marks.after[index] != markBefore { line += "  [mark \(Self.hex(marks.after[index]))]" }
            if let owner = s.owner { line += "  " + paint("[\(owner.label)]", "35") }
            lines.append(line)
        }
        for h in p.hints { lines.append("  " + paint("hint", "36") + " [\(h.code)] \(h.message)") }
        return lines.joined(separator: "\n")
    }

    static func hex(_ mark: UInt32) -> String { "0x" + String(mark, radix: 16) }

    /// The mark after each step and before the first, so that a change shows on the step that
    /// made it. nft reports the mark after the rule ran; legacy before the rule's target, so
    /// there the next step's report is the mark after (the last step's own is all there is).
    static func marksAfterSteps(_ p: PacketPath) -> (before: UInt32, after: [UInt32]) {
        let reported = p.steps.map(\.mark)
        switch p.markTiming {
        case .afterRule:
            return (p.mark ?? 0, reported)
        case .beforeTarget:
            guard let first = reported.first else { return (p.mark ?? 0, []) }
            return (first, Array(reported.dropFirst()) + [reported[reported.count - 1]])
        }
    }
}
