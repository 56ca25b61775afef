/// What a trace pipeline yields: the records of `follow` that come from trace messages.
public enum TraceRecord {
    /// A session began (sessions only: the pipeline never yields it).
    case started(RecordEncoder.SessionInfo)
    case path(PacketPath)
    case loss(count: UInt64, reason: String, detail: String?)
}

/// The one pipeline from trace messages to records, for every backend and every user (`follow`'s
/// sessions, the daemon, `fwtrace replay`, the bench, the tests, the fuzz targets): fed datagrams
/// and their receive times, it decodes, assembles, keeps what the filter wants, annotates (rule
/// text from the ruleset, hints) and yields records. It does no I/O and reads no clock: time is
/// what it is fed, and a stale ruleset is said, not reloaded (see `feed`).
public final class TracePipeline {
    public enum Backend {
        /// nft trace events (NFNLGRP_NFTRACE) grouped by PathAssembler.
        case nft(PathAssembler.Configuration)
        /// iptables-legacy TRACE through nfnetlink_log, each message decoded by `decoder`
        /// (libnetfilter_log); `conntrackInvalid`: conntrack's invalid-packet log lines are
        /// attached to their packet's path.
        case legacy(LegacyPathAssembler.Configuration, conntrackInvalid: Bool, decoder: NflogMessageDecoding)
    }

    /// What the hints know of the traced namespace beyond the ruleset (the session looks it up).
    public struct Environment {
        public var listening: (UInt8, IPAddress, UInt16) -> Bool? = { _, _, _ in nil }
        public var controlConnections: (IPAddress, IPAddress) -> [ControlConnection]? = { _, _ in nil }
        public init() {}
    }

    public struct Options {
        /// Keeps the paths it accepts (nil: all). Legacy TRACE marks packets of any TRACE rule,
        /// so there the packet must match the filter too.
        public var filter: TraceFilter?
        /// The filter as DNATs rewrite it (several namespaces): a path any of these accepts is kept too.
        public var rewrittenFilters: [TraceFilter] = []
        /// Stop after this many paths (`--count`): `isDone`, and nothing more is taken.
        public var count: Int?
        /// Hints on each path (the bench can switch them off to measure them).
        public var hints = true
        /// Interface names in the traced namespace.
        public var interfaceName: (UInt32) -> String? = { _ in nil }
        public var environment = Environment()
        public init() {}
    }

    let options: Options
    let nft: PathAssembler?
    let legacy: LegacyPathAssembler?
    let conntrackInvalid: Bool
    let nflogDecoder: NflogMessageDecoding?
    /// The rules the paths are annotated from: on nft the text listing with iptables-nft-save
    /// (and the JSON listing for the hints about native rules), on legacy iptables-legacy-save.
    public private(set) var ruleset: Ruleset
    var hintContext: HintContext
    let names = NameCache()

    /// Trace messages fed (nft trace events, or nflog messages on legacy), decodable or not.
    public internal(set) var events = 0
    /// Paths yielded.
    public internal(set) var paths = 0
    /// Rules read again and handed in (a stale ruleset met, a change notified, legacy's periodic
    /// read): the daemon's catalog-reload count.
    public private(set) var rulesetReloads = 0
    /// `options.count` paths were yielded: the rest is not wanted.
    public var isDone: Bool { options.count.map { paths >= $0 } ?? false }

    public init(backend: Backend, ruleset: Ruleset, options: Options = Options()) {
        self.options = options
        self.ruleset = ruleset
        switch backend {
        case .nft(let configuration):
            nft = PathAssembler(configuration: configuration, ruleset: ruleset)
            legacy = nil
            conntrackInvalid = false
            nflogDecoder = nil
        case .legacy(let configuration, let invalid, let decoder):
            legacy = LegacyPathAssembler(configuration: configuration, ruleset: ruleset)
            nft = nil
            conntrackInvalid = invalid
            nflogDecoder = decoder
        }
        hintContext = HintContext(rules: { _, _, _ in [] }, listening: options.environment.listening)
        nft?.interfaceName = options.interfaceName
        legacy?.interfaceName = options.interfaceName
        nft?.stopsOnUnknownRules = true
        legacy?.stopsOnUnknownRules = true
        installRules()
    }

    /// Hands in rules read again (after `feed` said the ruleset is stale, or it changed).
    public func replaceRuleset(_ fresh: Ruleset) {
        rulesetReloads += 1
        ruleset = fresh
        nft?.replaceRuleset(fresh)
        legacy?.ruleset = fresh
        installRules()
    }

    /// The hints read the rules the paths were annotated from (a new context per rules: its
    /// caches belong to one ruleset).
    private func installRules() {
        let ruleset = self.ruleset
        var context = HintContext(rules: { ruleset.rulesInChain($0, $1, $2) }, listening: options.environment.listening)
        context.controlConnections = options.environment.controlConnections
        // The managers' state the owners were named from: the hints speak in its terms too.
        context.tools = ruleset.tools
        if ruleset.sources.contains(.nftJSON) { context.evaluateNativeRules(with: ruleset) }
        hintContext = context
    }

    /// Paths started (for the unrecorded-packets count) and paths awaiting their quiet period.
    public var started: Int { nft?.started ?? legacy?.started ?? 0 }
    public var pendingCount: Int { nft?.pendingCount ?? legacy?.pendingCount ?? 0 }
}
