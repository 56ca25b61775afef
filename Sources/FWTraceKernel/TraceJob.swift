import Glibc
import FWTraceCore

/// One trace from request to closing record, the same for `follow`, a client of the daemon and
/// a configured watch: each describes its trace as a TraceJob. It enters the namespace (on the
/// calling thread), chooses the backend, runs the session and says what the closing record must
/// carry (with the no-match hint when nothing matched before the timeout).
public struct TraceJob: Sendable {
    public enum BackendChoice: String, Sendable, CaseIterable { case auto, nft, legacy }

    public enum Event {
        case started(RecordEncoder.SessionInfo)
        case path(PacketPath)
        case loss(count: UInt64, reason: String, detail: String?)
        /// Something the admin should know that is not a record (a repaired leftover).
        case notice(String)
    }

    public struct Outcome {
        public var summary: TraceSummary
        public var info: RecordEncoder.SessionInfo?
        /// Present when the timeout passed with no path: what was watched, and the hint.
        public var noMatch: (watched: [(String, String)], hint: Hint)?
        /// The closing `session` record.
        public func closingRecord(context: RecordContext) -> String? {
            guard let info else { return nil }
            return RecordEncoder.sessionEnded(info, paths: summary.paths, reason: summary.reason.rawValue,
                                              time: SystemClock.now(), context: context,
                                              watched: noMatch?.watched ?? [], hints: noMatch.map { [$0.hint] } ?? [],
                                              events: summary.events, lost: summary.lost)
        }
    }

    public var options: TraceSessionOptions
    public var backend: BackendChoice = .auto
    public var namespace: NetworkNamespace?
    /// The configured watch this job serves (daemon), shown in every record.
    public var watch: String?
    /// The timeout as the user wrote it, for the no-match hint.
    public var timeoutText: String = ""
    /// Trace in every network namespace, those that appear later too (MultiNamespaceTrace), at
    /// most `maxNamespaces` at once: `namespace` is then unused.
    public var allNamespaces = false
    public var maxNamespaces = 64

    public init(options: TraceSessionOptions) { self.options = options }

    /// A job with a new session id and the defaults of every other option.
    public init(filter: TraceFilter, limit: RateLimit?) {
        self.init(options: TraceSessionOptions(session: Self.makeSessionID(), filter: filter, limit: limit))
    }

    /// A job ready to run: the context every record of it carries and the backend it runs on.
    public struct Prepared {
        public let context: RecordContext
        public let backend: BackendDetection.Choice
    }

    /// Enters the namespace and picks the backend (`auto`: the one the namespace's firewall uses).
    public func prepare() throws -> Prepared {
        try namespace?.enter()
        if options.conntrackInvalid && backend == .nft {
            throw UserFacingError("--ct-invalid needs the legacy backend (conntrack's invalid-packet log reaches fwtrace through nfnetlink_log): add --backend legacy", exitCode: ExitCode.usage)
        }
        let chosen: BackendDetection.Choice
        switch backend {
        case .nft: chosen = .nft
        case .legacy: chosen = .legacy
        case .auto: chosen = try BackendDetection.detect()
        }
        var context = RecordContext(host: Self.hostname(), netns: namespace?.displayName,
                                    backend: chosen.rawValue, session: options.session)
        context.watch = watch
        return Prepared(context: context, backend: chosen)
    }

    /// Runs the session on the calling thread (after `prepare`, in its namespace) until count,
    /// timeout, signal or stop descriptor.
    public func run(_ prepared: Prepared, emit: @escaping (Event) -> Void) throws -> Outcome {
        var info: RecordEncoder.SessionInfo?
        let handle: (TraceRecord) -> Void = { record in
            switch record {
            case .started(let i): info = i; emit(.started(i))
            case .path(let path): emit(.path(path))
            case .loss(let count, let reason, let detail): emit(.loss(count: count, reason: reason, detail: detail))
            }
        }
        var options = options
        // An `ip netns` name: the managers' state is in its /etc/netns/NAME (ToolStateReader).
        options.namespaceName = namespace?.ipNetnsName
        let session = TraceSession(options: options, backend: prepared.backend.backend(options))
        let summary = try session.run(emit: handle, notice: { emit(.notice($0)) })
        var outcome = Outcome(summary: summary, info: info)
        if summary.paths == 0 && summary.reason == .timeout {
            let filter = options.filter
            let place = namespace.map { "netns \($0.displayName)" } ?? "this namespace"
            let hooks = filter.inInterface == nil ? "prerouting and output" : "prerouting"
            let watched: [(String, String)] = [
                ("netns", namespace?.displayName ?? "(this namespace)"),
                ("families", filter.families.map(\.rawValue).sorted().joined(separator: ",")),
                ("filter", filter.summary),
                ("hooks", filter.inInterface == nil ? "prerouting,output" : "prerouting"),
                ("backend", prepared.backend.rawValue),
            ]
            outcome.noMatch = (watched, HintEngine.noMatchSeen(filter: filter, namespace: place, seconds: timeoutText, hooks: hooks))
        }
        return outcome
    }

    public static func makeSessionID() -> String { RecordEncoder.hex8(UInt32.random(in: 0...UInt32.max)) }

    public static func hostname() -> String { CurrentProcess.hostname() }
}
