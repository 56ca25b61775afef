/// Issue 15 groundwork, not yet used by follow (SegmentStitcherTests): joins one packet's paths from several network
/// namespaces into one record. The veth crossing clears nf_trace and the trace id differs per
/// namespace, so segments join on what NAT leaves alone (family, protocol, length, IPv4 id or
/// IPv6 flow label, TCP sequence), and on the destination a segment leaves with (after its own
/// NAT) being the one the next enters with. Sources are not compared: a masquerade at postrouting
/// is not seen by the segment that does it.
public struct PathSegment: Sendable {
    /// The namespace as records name it (`ip netns` name, container, or inode).
    public var netns: String
    public var path: PacketPath
    public init(netns: String, path: PacketPath) { self.netns = netns; self.path = path }

    /// What no NAT or forwarding hop changes.
    struct Identity: Hashable {
        var family: PacketSummary.Family
        var protocolNumber: UInt8
        var length: Int
        var ipID: UInt16?
        var flowLabel: UInt32?
        var tcpSequence: UInt32?
    }

    var identity: Identity {
        let p = path.packet
        return Identity(family: p.family, protocolNumber: p.protocolNumber, length: p.length,
                        ipID: p.ipID, flowLabel: p.flowLabel, tcpSequence: p.tcpSequence)
    }

    /// Destination as it entered and as it left (after the last NAT seen here).
    var entry: (IPAddress, UInt16?) { (path.packet.dst, path.packet.dport) }
    var exit: (IPAddress, UInt16?) {
        guard let after = path.steps.last(where: { $0.nat != nil })?.nat?.after else { return entry }
        return (after.dst, after.dport)
    }

    /// Earlier on the packet's way: more TTL left (ip_forward decrements it), then a segment
    /// that starts at output (the sender) before one that starts at prerouting, then receive time.
    static func precedes(_ a: PathSegment, _ b: PathSegment) -> Bool {
        if a.path.packet.ttl != b.path.packet.ttl { return a.path.packet.ttl > b.path.packet.ttl }
        let aOut = a.path.steps.first?.hook == .output, bOut = b.path.steps.first?.hook == .output
        if aOut != bOut { return aOut }
        return a.path.time < b.path.time
    }
}

public final class SegmentStitcher {
    /// One packet's segments so far, in the packet's order.
    public struct Group {
        public var segments: [PathSegment]
        var identity: PathSegment.Identity
        var lastArrival: Double
    }

    /// How long a group waits for another segment after its last one came.
    public let window: Double
    private var open: [Group] = []

    public init(window: Double) { self.window = window }

    /// Adds a segment received at `now`; joins the open group it continues, else opens one.
    public func add(_ segment: PathSegment, now: Double) {
        let identity = segment.identity
        if let i = open.firstIndex(where: { group in
            group.identity == identity && now - group.lastArrival <= window
                && !group.segments.contains { $0.netns == segment.netns }
                && group.segments.contains { Self.continues($0, segment) || Self.continues(segment, $0) }
        }) {
            open[i].segments.append(segment)
            open[i].segments.sort(by: PathSegment.precedes)
            open[i].lastArrival = now
        } else {
            open.append(Group(segments: [segment], identity: identity, lastArrival: now))
        }
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

    /// Every open group (the session's end).
    public func flush() -> [Group] { defer { open.removeAll() }; return open }

    static func continues(_ a: PathSegment, _ b: PathSegment) -> Bool {
        a.exit.0 == b.entry.0 && a.exit.1 == b.entry.1
    }
}
