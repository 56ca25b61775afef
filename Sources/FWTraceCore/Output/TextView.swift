import Foundation

/// How many of a path's steps the text view prints (`--steps`).
public enum StepDetail: String, Sendable, CaseIterable {
    /// Each run of pass-through steps (PathStep.passesThrough) is one line saying how many
    /// steps it hides and in which chains; every other step has its own line.
    case folded
    /// Every step on a line of its own, as the JSON has them.
    case all
}

/// The readable view of a path for a terminal: a header line, the decision, then the steps (one
/// line each, or with runs of plumbing folded) and the hints.
public struct TextView: Sendable {
    public var color: Bool
    public var steps: StepDetail

    public init(color: Bool, steps: StepDetail = .all) { self.color = color; self.steps = steps }

    func paint(_ s: String, _ code: String) -> String { color ? "\u{1b}[\(code)m\(s)\u{1b}[0m" : s }

    /// One line of the view below the header and the decision: a step, or a run of pass-through
    /// steps folded into one.
    enum Row: Equatable {
        case step(Int)
        case fold(Range<Int>)
    }

    public func render(_ p: PacketPath, netns: String?) -> String {
        let verdictColor = p.verdict == .accept ? "32" : (p.verdict == .unknown ? "33" : "31")
        var lines = [header(p, netns: netns, verdictColor: verdictColor), decision(p, verdictColor: verdictColor)]
        let marks = Self.marksAfterSteps(p)
        let segmentAt = Dictionary(p.segments.enumerated().map { ($1.firstStep, $0) }, uniquingKeysWith: { a, _ in a })
        for row in Self.rows(p, steps: steps) {
            let first: Int
            switch row { case .step(let i): first = i; case .fold(let r): first = r.lowerBound }
            if let n = segmentAt[first] { lines.append(segmentLine(p, n)) }
            switch row {
            case .step(let index): lines.append(stepLine(p, index, marks: marks, verdictColor: verdictColor))
            case .fold(let run): lines.append(foldLine(p, run))
            }
        }
        for h in p.hints { lines.append("  " + paint("hint", "36") + " [\(h.code)] \(h.message)") }
        return lines.joined(separator: "\n")
    }

    /// The line above a namespace's steps on a stitched path: which namespace (and container),
    /// and the interfaces the packet came in and left by there.
    func segmentLine(_ p: PacketPath, _ n: Int) -> String {
        let s = p.segments[n]
        var line = "  " + paint("netns \(s.netns)", "1;34")
        if let c = s.container { line += " (container \(c.label))" }
        if let iif = s.iif { line += " in \(iif)" }
        if let oif = s.oif { line += " out \(oif)" }
        line += ": \(s.verdict.rawValue)"
        return line
    }

    /// Time, packet, where it came and went, and the verdict.
    func header(_ p: PacketPath, netns: String?, verdictColor: String) -> String {
        let time = Timestamp.rfc3339(p.time)
        var header = "\(time)  \(p.packet.protocolName) "
        let src = p.packet.sport.map { "\(p.packet.src):\($0)" } ?? "\(p.packet.src)"
        let dst = p.packet.dport.map { "\(p.packet.dst):\($0)" } ?? "\(p.packet.dst)"
        header += "\(src) → \(dst)"
        if !p.packet.tcpFlagList.isEmpty { header += " [\(p.packet.tcpFlagList.joined(separator: ","))]" }
        if let t = p.packet.icmpType { header += " type \(t) code \(p.packet.icmpCode ?? 0)" }
        if let iif = p.iif { header += " in \(iif)" }
        if let oif = p.oif { header += " out \(oif)" }
        if let ct = p.conntrack?.state { header += " ct \(ct.rawValue)" }
        if let mark = p.mark, mark != 0 { header += " mark \(Self.hex(mark))" }
        if let netns { header += " netns \(netns)" }
        header += "  " + paint(p.verdict.rawValue.uppercased(), "1;" + verdictColor)
        if p.incomplete { header += " (incomplete)" }
        return header
    }

    /// The second line: the verdict and the step that decided it, before any step.
    func decision(_ p: PacketPath, verdictColor: String) -> String {
        guard let step = p.decidingStep else {
            return "  decided: " + paint("nothing", "1;" + verdictColor) + " (no verdict was seen\(p.incomplete ? ": the path is incomplete" : ""))"
        }
        var line = "  decided: " + paint(p.verdict.rawValue.uppercased(), "1;" + verdictColor) + " by \(Self.place(step)) " + Self.position(step)
        if let text = step.text { line += "  " + paint(text, "2") }
        if let note = Self.annotation(for: step) { line += "  [\(note)]" }
        return line
    }

    /// What the step's rule is in its owner's words (e.g. "ufw rule 2"), shown on its line and
    /// on the decision line; nil when there is nothing to say. The one place that text is made.
    static func annotation(for step: PathStep) -> String? { step.owner?.label }

    static func place(_ s: PathStep) -> String { "\(s.hook.rawValue) \(s.tableFamily.rawValue) \(s.table)/\(s.chain)" }

    /// `#N`, `policy`, the implicit end of a chain, or the handle when the rule is not known.
    static func position(_ s: PathStep) -> String {
        switch s.kind {
        case .policy: return "policy"
        case .return where s.rule == nil: return "end of chain, back to caller"
        default: return s.rule.map { "#\($0)" } ?? (s.handle.map { "handle \($0)" } ?? "")
        }
    }

    static func padded(_ place: String) -> String { place.padding(toLength: max(place.count, 36), withPad: " ", startingAt: 0) }

    func stepLine(_ p: PacketPath, _ index: Int, marks: (before: UInt32, after: [UInt32]), verdictColor: String) -> String {
        let s = p.steps[index]
        var line = "  " + Self.padded(Self.place(s))
        let position = Self.position(s)
        if !position.isEmpty { line += " " + position }
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
        if let note = Self.annotation(for: s) { line += "  [\(note)]" }
        return line
    }

    /// `⋯ 29 steps of jumps and returns where no rule acted, through 15 chains: …_ZONES, …_public,
    /// +13 more`, at the place of the run's first step (the chains named are the others it met).
    func foldLine(_ p: PacketPath, _ run: Range<Int>) -> String {
        let first = p.steps[run.lowerBound]
        let chains = Self.distinctChains(p.steps[run]).filter { $0 != first.chain }
        var what = "⋯ \(run.count) steps of jumps and returns where no rule acted"
        if !chains.isEmpty {
            let shown = Self.shortened([first.chain] + chains.prefix(Self.foldChainsShown)).dropFirst()
            what += ", through \(chains.count) chain\(chains.count == 1 ? "" : "s"): " + shown.joined(separator: ", ")
            if chains.count > shown.count { what += ", +\(chains.count - shown.count) more" }
        }
        return "  " + Self.padded(Self.place(first)) + " " + paint(what, "2")
    }

    static let foldChainsShown = 4

    /// The chains of a run in the order the packet first met them, each once.
    static func distinctChains(_ steps: ArraySlice<PathStep>) -> [String] {
        var seen = Set<String>(), out: [String] = []
        for s in steps where seen.insert(s.table + "\u{0}" + s.chain).inserted { out.append(s.chain) }
        return out
    }

    /// Each name after the first without what it shares with the one before it, up to a `_` or
    /// `-`: `filter_IN_public`, `…_pre`, `…_log`.
    static func shortened(_ names: [String]) -> [String] {
        guard var previous = names.first else { return [] }
        var out = [previous]
        for name in names.dropFirst() {
            let common = zip(previous, name).prefix { $0 == $1 }.count
            let chars = Array(name)
            var cut = common
            while cut > 0 && !(cut < chars.count && (chars[cut] == "_" || chars[cut] == "-")) { cut -= 1 }
            out.append(cut >= 4 ? "…" + String(chars[cut...]) : name)
            previous = name
        }
        return out
    }

    /// The lines under the header and the decision: with `.folded`, each run of two or more
    /// consecutive pass-through steps becomes one fold (a single one stays a step: one line either way).
    static func rows(_ p: PacketPath, steps detail: StepDetail) -> [Row] {
        guard detail == .folded else { return p.steps.indices.map(Row.step) }
        let marks = marksAfterSteps(p)
        var rows: [Row] = [], start: Int?
        func close(_ end: Int) {
            guard let s = start else { return }
            rows += end - s >= 2 ? [.fold(s..<end)] : (s..<end).map(Row.step)
            start = nil
        }
        let segmentStarts = Set(p.segments.map(\.firstStep))
        for index in p.steps.indices {
            // A fold never spans two namespaces: each segment's steps start under its own line.
            if segmentStarts.contains(index) { close(index) }
            let markBefore = index == 0 ? marks.before : marks.after[index - 1]
            if passesThrough(p.steps[index], deciding: index == p.decidedBy, markChanged: marks.after[index] != markBefore) {
                if start == nil { start = index }
            } else {
                close(index)
                rows.append(.step(index))
            }
        }
        close(p.steps.count)
        return rows
    }

    /// Plumbing: a jump, goto or return (explicit, or the end of a chain) that did nothing else:
    /// no verdict but jump/goto/return/continue, no NAT, no mark change, not the deciding step.
    static func passesThrough(_ s: PathStep, deciding: Bool, markChanged: Bool) -> Bool {
        guard s.kind == .jump || s.kind == .goto || s.kind == .return else { return false }
        guard [.jump, .goto, .return, .continue].contains(s.verdict) else { return false }
        return !deciding && s.nat == nil && !markChanged
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
