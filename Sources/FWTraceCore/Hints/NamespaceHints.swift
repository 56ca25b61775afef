import Foundation

/// Hints of a path stitched across namespaces (SegmentStitcher): which namespace a segment's hint
/// speaks of, and the packet the host forwarded that a later namespace (a container's) dropped.
public enum NamespaceHints {
    /// A segment's hint with its namespace named: "in this namespace" is the segment's.
    static func placed(_ hint: Hint, in segment: PathSegment) -> Hint {
        var hint = hint
        let place = "in netns \(segment.netns)" + (segment.container.map { " (container \($0.label))" } ?? "")
        hint.message = hint.message.replacingOccurrences(of: "in this namespace", with: place)
        if !hint.evidence.contains(where: { $0.0 == "netns" }) { hint.evidence.append(("netns", segment.netns)) }
        return hint
    }

    /// The earlier namespaces let the packet through (forwarded or sent it on) and the last one
    /// dropped or rejected it: name that namespace, its container and its rule.
    static func droppedAfterForward(_ segments: [PathSegment]) -> Hint? {
        guard segments.count > 1, let last = segments.last, last.path.verdict == .drop || last.path.verdict == .reject else { return nil }
        let earlier = segments.dropLast()
        guard earlier.allSatisfy({ $0.path.verdict == .accept }) else { return nil }
        let before = earlier.last!
        let who = last.container.map { "container \($0.label), netns \(last.netns)" } ?? "netns \(last.netns)"
        var rule = "its policy or rules"
        var evidence: [(String, String)] = [("netns", last.netns)]
        if let c = last.container { evidence.append(("container", c.name ?? c.id)); evidence.append(("runtime", c.runtime)) }
        if let step = last.path.decidingStep {
            let place = "\(step.hook.rawValue) \(step.tableFamily.rawValue) \(step.table)/\(step.chain)"
            if step.kind == .policy {
                rule = "the policy of \(place)"
            } else {
                rule = "rule \(step.rule.map { "#\($0)" } ?? step.handle.map { "handle \($0)" } ?? "") in \(place)" + (step.text.map { " (\($0))" } ?? "")
            }
            evidence.append(("chain", "\(step.table)/\(step.chain)"))
            if let r = step.rule { evidence.append(("rule", String(r))) }
        }
        let via = before.path.oif.map { " out \($0)" } ?? ""
        return Hint(code: "dropped-in-namespace",
                    message: "netns \(before.netns) accepted the packet and sent it on\(via); then \(who) \(last.path.verdict == .reject ? "rejected" : "dropped") it by \(rule). The firewall of netns \(before.netns) is not what stops it: look at the firewall inside netns \(last.netns) (`ip netns exec` or `nsenter --net` to it, then `nft list ruleset` or `iptables -L -v -n --line-numbers`)",
                    evidence: evidence)
    }
}
