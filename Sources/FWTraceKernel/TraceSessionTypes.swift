import FWTraceCore

/// What a trace session is asked to do, whichever backend runs it.
public struct TraceSessionOptions: Sendable {
    public var session: String
    public var filter: TraceFilter
    public var limit: RateLimit?
    public var count: Int?
    public var timeout: Double?
    public var quietPeriod: Double = 0.1
    public var receiveBuffer: Int = 16 << 20
    /// Trace data read from the kernel but not processed yet, at most (see TraceReceiver).
    public var receiveBacklog: Int = 32 << 20
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
