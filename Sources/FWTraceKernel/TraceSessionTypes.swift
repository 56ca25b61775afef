import FWTraceCore

/// What a trace session is asked to do, whichever backend runs it: with TraceJob (backend,
/// namespace, watch), the one place the fields of a trace and their defaults live, for `follow`,
/// a client of the daemon and a configured watch alike.
/// Trace events received and rulesets read again since the last call (deltas, so that several
/// sessions may report to one counter).
public struct SessionProgress: Sendable {
    public let report: @Sendable (_ events: Int, _ rulesetReloads: Int) -> Void
    public init(report: @escaping @Sendable (_ events: Int, _ rulesetReloads: Int) -> Void) { self.report = report }
}

public struct TraceSessionOptions: Sendable {
    public static let defaultQuietPeriod = 0.1
    public static let defaultReceiveBuffer = 16 << 20
    public static let defaultReceiveBacklog = 32 << 20

    public var session: String
    public var filter: TraceFilter
    /// The filter as the traced namespaces' DNAT rules rewrite it (TraceFilter.rewrittenByDNAT):
    /// with several namespaces, a namespace after the NAT sees the packet rewritten, so its trace
    /// rules match these too. Empty in one namespace.
    public var rewrittenFilters: [TraceFilter] = []
    /// Every filter a trace rule is installed for: the user's, then the rewritten ones.
    public var filters: [TraceFilter] { [filter] + rewrittenFilters }
    public var limit: RateLimit?
    public var count: Int?
    public var timeout: Double?
    public var quietPeriod = defaultQuietPeriod
    public var receiveBuffer = defaultReceiveBuffer
    /// Trace data read from the kernel but not processed yet, at most (see TraceReceiver).
    public var receiveBacklog = defaultReceiveBacklog
    /// Writes every datagram received (receive time and hex) to this file: fixtures and bug reports.
    public var capturePath: String?
    /// Legacy backend: have conntrack log invalid packets for the session and attach its reason.
    public var conntrackInvalid = false
    /// Ends the session when readable (the daemon's eventfd); nil: SIGINT/SIGTERM/SIGHUP do.
    public var stopFD: Int32?
    /// Called each time the session goes back to wait for the kernel: the moment to flush
    /// output gathered from the batch just handled.
    public var beforeWait: (@Sendable () -> Void)?
    /// The `ip netns` name traced in, if any: the managers' state is read from its /etc/netns/NAME.
    public var namespaceName: String?
    /// Told, on the session's thread after each batch, what it received since it last said:
    /// the daemon's metrics. Each namespace of an all-namespaces trace tells its own.
    public var progress: SessionProgress?
    public init(session: String, filter: TraceFilter, limit: RateLimit?) {
        self.session = session; self.filter = filter; self.limit = limit
    }
}

public enum TraceEndReason: String, Sendable { case count, timeout, signal, stopped }

/// How a session ended and what it saw, for its closing record.
public struct TraceSummary: Sendable {
    public var paths = 0
    public var reason: TraceEndReason = .signal
    public var lost: UInt64 = 0
    public var events = 0
    public init() {}
}
