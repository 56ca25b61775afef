import FWTraceCore

/// What a trace is asked to do, from `follow`, a client of the daemon or a configured watch:
/// the one place a TraceJob and its session options are put together.
public struct TraceRequest: Sendable {
    public var session = TraceJob.makeSessionID()
    public var filter: TraceFilter
    public var limit: RateLimit?
    public var count: Int?
    public var timeout: Double?
    /// The timeout as the user wrote it, for the no-match hint.
    public var timeoutText = ""
    public var quietPeriod = 0.1
    public var backend: TraceJob.BackendChoice = .auto
    public var namespace: NetworkNamespace?
    /// The configured watch it serves (daemon).
    public var watch: String?
    public var capturePath: String?
    public var receiveBuffer = 16 << 20
    public var receiveBacklog = 32 << 20
    public var conntrackInvalid = false

    public init(filter: TraceFilter, limit: RateLimit?) { self.filter = filter; self.limit = limit }
}

extension TraceJob {
    public init(_ request: TraceRequest) {
        var options = TraceSessionOptions(session: request.session, filter: request.filter, limit: request.limit)
        options.count = request.count
        options.timeout = request.timeout
        options.quietPeriod = request.quietPeriod
        options.capturePath = request.capturePath
        options.receiveBuffer = request.receiveBuffer
        options.receiveBacklog = request.receiveBacklog
        options.conntrackInvalid = request.conntrackInvalid
        self.init(options: options)
        backend = request.backend
        namespace = request.namespace
        watch = request.watch
        timeoutText = request.timeoutText
    }
}
