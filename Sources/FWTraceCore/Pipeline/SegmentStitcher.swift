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
        /// Creation order: groups leave oldest first.
        var serial: Int
    }

    /// What `samePacket` compares but the protocol (an unknown one matches any): the groups are
    /// kept by it, so a segment is compared with its own packet's groups only, not with every
    /// open one (a few hundred at 1000 packets a second; the linear search copied each).
    struct Key: Hashable {
        var family: PacketSummary.Family
        var length: Int
        var identity: UInt32?
        var sequence: UInt32?
        init(_ p: PacketSummary) {
            family = p.family; length = p.length; sequence = p.tcpSequence
            identity = p.family == .ip ? p.ipID.map(UInt32.init) : p.flowLabel
        }
    }

    /// How long a group waits for another segment after its last one came.
    public let window: Double
    /// Open groups by their packet's key; no bucket is empty.
    private var open: [Key: [Group]] = [:]
    private var serials = 0

    public init(window: Double) { self.window = window }

    public var isEmpty: Bool { open.isEmpty }

    /// Adds a segment received at `now`; joins the open group it continues, else opens one. A
    /// segment can connect two groups (the middle namespace's part arriving last): they merge.
    public func add(_ segment: PathSegment, now: Double) {
        let key = Key(segment.path.packet), single = [segment]
        var bucket = open.removeValue(forKey: key) ?? []
        defer { open[key] = bucket }
        guard var i = bucket.firstIndex(where: { joins($0, single, now: now) }) else {
            bucket.append(Group(segments: single, lastArrival: now, serial: serials)); serials += 1; return
        }
        bucket[i].segments.append(segment)
        bucket[i].lastArrival = now
        while let j = bucket.indices.first(where: { $0 != i && joins(bucket[i], bucket[$0].segments, now: now) }) {
            bucket[i].segments += bucket[j].segments
            bucket[i].serial = min(bucket[i].serial, bucket[j].serial)
            bucket.remove(at: j)
            if j < i { i -= 1 }
        }
        bucket[i].segments.sort(by: PathSegment.precedes)
    }

    /// Whether `segments` (one packet's, in other namespaces) join the group.
    private func joins(_ group: Group, _ segments: [PathSegment], now: Double) -> Bool {
        guard now - group.lastArrival <= window, group.segments[0].samePacket(segments[0]) else { return false }
        return segments.allSatisfy { s in !group.segments.contains { $0.netns == s.netns } }
            && segments.contains { s in group.segments.contains { Self.continues($0, s) || Self.continues(s, $0) } }
    }

    /// Groups no segment joined within the window, oldest first.
    public func expired(now: Double) -> [Group] {
        guard let deadline = nextDeadline, now > deadline else { return [] }
        var done: [Group] = []
        open = open.compactMapValues { bucket in
            let kept = bucket.filter { now - $0.lastArrival <= window }
            if kept.count < bucket.count { done += bucket.filter { now - $0.lastArrival > window } }
            return kept.isEmpty ? nil : kept
        }
        return done.sorted { $0.serial < $1.serial }
    }

    /// When the oldest open group expires (nil: none open).
    public var nextDeadline: Double? {
        var oldest: Double?
        for bucket in open.values { for group in bucket where oldest.map({ group.lastArrival < $0 }) ?? true { oldest = group.lastArrival } }
        return oldest.map { $0 + window }
    }

    /// Every open group (the session's end), oldest first.
    public func flush() -> [Group] {
        defer { open.removeAll() }
        return open.values.flatMap { $0 }.sorted { $0.serial < $1.serial }
    }

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
