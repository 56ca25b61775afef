/// Joins one packet's paths from several network namespaces into one record (follow with several
/// namespaces). The veth crossing clears nf_trace and the trace id differs per namespace, so
/// segments join on what neither NAT nor forwarding changes (PathAssembler's packet identity:
/// family, protocol, length, IPv4 id or IPv6 flow label; and the TCP sequence number), and on the
/// destination a segment leaves with (after its own NAT) being the one the next enters with.
/// Sources are not compared: a masquerade at postrouting is not seen by the segment that does it.
public struct PathSegment: Sendable {
    /// The namespace as records name it (`ip netns` name, container, or inode).
    public var netns: String
    public var inode: UInt64?
    public var container: ContainerName?
    public var path: PacketPath
    public init(netns: String, inode: UInt64? = nil, container: ContainerName? = nil, path: PacketPath) {
        self.netns = netns; self.inode = inode; self.container = container; self.path = path
    }

    /// The same packet: what no NAT or forwarding hop changes.
    func samePacket(_ other: PathSegment) -> Bool {
        PathAssembler.sameIdentity(path.packet, other.path.packet) && path.packet.tcpSequence == other.path.packet.tcpSequence
    }

    /// Destination as it entered and as it left (after the last NAT seen here).
    var entry: (IPAddress, UInt16?) { (path.packet.dst, path.packet.dport) }
    var exit: (IPAddress, UInt16?) {
        guard let after = path.steps.last(where: { $0.nat != nil })?.nat?.after else { return entry }
        return (after.dst, after.dport)
    }

    /// Earlier on the packet's way: more TTL left (ip_forward decrements it), then a segment
    /// that starts at output (the sender: no input interface) before one that starts at prerouting, then receive time.
    static func precedes(_ a: PathSegment, _ b: PathSegment) -> Bool {
        if a.path.packet.ttl != b.path.packet.ttl { return a.path.packet.ttl > b.path.packet.ttl }
        // Sent from there: no input interface (a namespace without rules has no steps to say output).
        let aOut = a.path.iif == nil, bOut = b.path.iif == nil
        if aOut != bOut { return aOut }
        return a.path.time < b.path.time
    }
}

public final class SegmentStitcher {
    /// One packet's segments so far, in the packet's order.
    public struct Group: Sendable {
        public var segments: [PathSegment]
        var lastArrival: Double
    }

    /// How long a group waits for another segment after its last one came.
    public let window: Double
    /// Open groups, oldest first: at the rate limit there are a few hundred at most.
    private var open: [Group] = []

    public init(window: Double) { self.window = window }

    public var isEmpty: Bool { open.isEmpty }

    /// Adds a segment received at `now`; joins the open group it continues, else opens one. A
    /// segment can connect two groups (the middle namespace's part arriving last): they merge.
    public func add(_ segment: PathSegment, now: Double) {
        guard var i = open.firstIndex(where: { joins($0, [segment], now: now) }) else {
            open.append(Group(segments: [segment], lastArrival: now)); return
        }
        open[i].segments.append(segment)
        open[i].lastArrival = now
        while let j = open.indices.first(where: { $0 != i && joins(open[i], open[$0].segments, now: now) }) {
            open[i].segments += open[j].segments
            open.remove(at: j)
            if j < i { i -= 1 }
        }
        open[i].segments.sort(by: PathSegment.precedes)
    }

    /// Whether `segments` (one packet's, in other namespaces) join the group.
    private func joins(_ group: Group, _ segments: [PathSegment], now: Double) -> Bool {
        guard now - group.lastArrival <= window, group.segments[0].samePacket(segments[0]) else { return false }
        return segments.allSatisfy { s in !group.segments.contains { $0.netns == s.netns } }
            && segments.contains { s in group.segments.contains { Self.continues($0, s) || Self.continues(s, $0) } }
    }

    /// Groups no segment joined within the window, oldest first.
    public func expired(now: Double) -> [Group] {
        var done: [Group] = []
        open.removeAll { group in
            guard now - group.lastArrival > window else { return false }
            done.append(group); return true
        }
        return done
    }

    /// When the oldest open group expires (nil: none open).
    public var nextDeadline: Double? { open.map(\.lastArrival).min().map { $0 + window } }

    /// Every open group (the session's end).
    public func flush() -> [Group] { defer { open.removeAll() }; return open }

    /// `b` takes up where `a` left: the destination `a` rewrote it to (or kept) is the one `b`
    /// saw, or the two carry one trace id. The kernel's trace id is a hash of the skb's address,
    /// and a veth hands the same skb to its peer; the id alone is not enough (a hash, and a
    /// packet copied on the way gets another), but it joins a packet whose NAT was applied by
    /// conntrack before any traced rule (a retransmission: no NAT chain runs, no step shows it).
    static func continues(_ a: PathSegment, _ b: PathSegment) -> Bool {
        (a.exit.0 == b.entry.0 && a.exit.1 == b.entry.1) || a.path.traceID == b.path.traceID
    }
}

extension SegmentStitcher.Group {
    /// The one record: the first segment's packet as it came, every segment's steps in order
    /// (each with its namespace), the last segment's verdict and deciding step, the segments and
    /// the crossings between them, and the hints of every segment (a later namespace's named).
    public func merged() -> PacketPath {
        var path = segments[0].path
        path.steps = []
        path.hints = []
        path.segments = []
        path.crossings = []
        for (n, segment) in segments.enumerated() {
            let offset = path.steps.count
            let part = segment.path
            path.segments.append(NamespaceSegment(netns: segment.netns, inode: segment.inode, container: segment.container,
                                                  iif: part.iif, oif: part.oif, traceID: part.traceID, verdict: part.verdict,
                                                  firstStep: offset, incomplete: part.incomplete))
            for var step in part.steps {
                step.netns = segment.netns
                path.steps.append(step)
            }
            if n > 0 {
                let before = segments[n - 1]
                path.crossings.append(NamespaceCrossing(from: before.netns, to: segment.netns, out: before.path.oif, in: part.iif))
            }
            for var hint in part.hints {
                if n > 0 || segments.count > 1 { hint = NamespaceHints.placed(hint, in: segment) }
                if !path.hints.contains(hint) { path.hints.append(hint) }
            }
            if n == segments.count - 1 {
                path.verdict = part.verdict
                path.decidedBy = part.decidedBy.map { $0 + offset }
                path.incomplete = part.incomplete
                path.oif = part.oif
            }
        }
        if let hint = NamespaceHints.droppedAfterForward(segments) { path.hints.insert(hint, at: 0) }
        return path
    }
}
