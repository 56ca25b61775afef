/// How explain reports what a prediction rests on: the rule and match where it stopped
/// (`unknown_at`), and the assumptions it made (`assumptions`), in JSON and in text.
extension PathPredictor.Prediction {
    /// The members explain adds to the path record after `"predicted":true`, each with its
    /// leading comma; empty when there is none.
    public var noteMembers: String {
        guard unknownAt != nil || !assumptions.isEmpty else { return "" }
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        if let at = unknownAt {
            w.beginObject("unknown_at")
            Self.place(&w, at)
            w.string("match", unknownMatch)
            w.endObject()
        }
        if !assumptions.isEmpty {
            w.beginArray("assumptions")
            for (step, assumption) in assumptions {
                w.beginObject()
                Self.place(&w, step)
                w.string("match", assumption.match)
                w.string("assumed", assumption.assumed)
                w.endObject()
            }
            w.endArray()
        }
        w.endObject()
        let text = w.text
        return "," + text.dropFirst().dropLast()
    }

    static func place(_ w: inout JSONWriter, _ step: PathStep) {
        w.string("table", step.table)
        w.string("chain", step.chain)
        w.int("rule", step.rule ?? 0)
    }

    /// The lines the text view adds under the path: the assumptions, then where it stopped.
    public var noteLines: [String] {
        var lines = assumptions.map { step, a in
            "  assumed: \(step.table)/\(step.chain) rule \(step.rule ?? 0): `\(a.match)` \(a.assumed)"
        }
        if let at = unknownAt {
            let match = unknownMatch.map { " (`\($0)`)" } ?? ""
            lines.append("  unknown: \(at.table)/\(at.chain) rule \(at.rule ?? 0) uses a match fwtrace cannot evaluate\(match): `\(at.text ?? "")`; trace a real packet with fwtrace follow")
        }
        return lines
    }
}
