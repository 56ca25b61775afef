import Foundation
import FWTraceCore
import FWTraceKernel

/// The daemon's configuration, validated: every error names the file, the line and the fix.
public struct DaemonConfig: Sendable, Equatable {
    public struct Settings: Sendable, Equatable {
        public var socketPath = "/run/fwtrace/fwtrace.sock"
        public var socketGroup = "fwtrace"
        public var socketMode: UInt32 = 0o660
        /// Client sessions and watches together.
        public var maxSessions = 8
        /// Trace packets per second summed over every watch and client session (kernel-side limits).
        public var maxTraceRate = 1000.0
        /// Records queued for one client before the oldest are dropped (and a loss record says so).
        public var clientBuffer = 1000
        /// A client that has not read for this long while its queue is full is cut off.
        public var clientStallTimeout = 30.0
        /// Control connections one user other than root may have open at once.
        public var maxConnectionsPerUser = 8
        /// A client must send its request within this long.
        public var requestTimeout = 5.0
        /// SIGTERM: how long sessions get to remove their rules before the daemon exits anyway.
        public var stopTimeout = 10.0
        /// The least urgent priority logged (syslog numbers: 7 debug … 3 error); `--log-level` wins.
        public var logLevel: LogLevel?
    }

    /// The daemon's log threshold, by syslog priority.
    public enum LogLevel: String, Sendable, CaseIterable {
        case debug, info, notice, warning, error
        public var priority: Int {
            switch self {
            case .debug: return 7
            case .info: return 6
            case .notice: return 5
            case .warning: return 4
            case .error: return 3
            }
        }
    }

    public enum SinkKind: String, Sendable, CaseIterable { case stdout, file, journald, socket }

    public struct Sink: Sendable, Equatable {
        public var name: String
        public var kind: SinkKind
        /// file: the path; socket: unix:/path or tcp:127.0.0.1:PORT; journald: the journal's socket.
        public var target: String
        /// Records held while the sink is slow or down; beyond it the oldest are dropped.
        public var buffer: Int
    }

    /// The namespaces an all-namespaces session (a watch's, a client's) traces at once: each gets
    /// the whole limit (nft's limit is per rule, and each namespace has its own rules), so
    /// the session counts as limit × this against max_trace_rate; at least 1, at most 64.
    public static func namespaceBound(perSecond: Double, available: Double) -> Int {
        guard perSecond > 0, available >= perSecond else { return 1 }
        return min(64, Int((available / perSecond).rounded(.down)))
    }

    public struct Watch: Sendable, Equatable {
        public var name: String
        public var netns: String?
        /// `all_netns = true`: every namespace, one path per packet across them.
        public var allNetns = false
        /// With `allNetns`: how many namespaces at once (each at `limit`), what max_trace_rate
        /// leaves after the other watches (DaemonConfig.namespaceBound).
        public var maxNamespaces = 1
        /// What the watch counts against max_trace_rate: its limit in each namespace it traces.
        public var tracedRate: Double { limit.perSecond * Double(allNetns ? maxNamespaces : 1) }
        public var backend: TraceJob.BackendChoice
        public var filter: FilterSpec
        public var limit: RateLimit
        /// Only paths with one of these verdicts are sent (empty: all).
        public var verdicts: [String]
        /// Sink names; empty: every sink.
        public var sinks: [String]
        public var line: Int
        public static func == (a: Watch, b: Watch) -> Bool {
            a.name == b.name && a.netns == b.netns && a.allNetns == b.allNetns && a.maxNamespaces == b.maxNamespaces && a.backend == b.backend && a.filter == b.filter
                && a.limit == b.limit && a.verdicts == b.verdicts && a.sinks == b.sinks
        }
    }

    /// `[metrics]`: Prometheus metrics on a local listener (docs/metrics.md); nil: none (the default).
    public struct Metrics: Sendable, Equatable {
        public var listen: CollectorAddress
        /// Deciding rules with a series of their own, per watch (the rest: rule="other").
        public var topRules = defaultTopRules
        public static let defaultTopRules = 20
    }

    public var settings = Settings()
    public var metrics: Metrics?
    public var sinks: [Sink] = []
    public var watches: [Watch] = []
    /// Where keys the start depends on were set ("daemon.socket_group", "sink.NAME.path",
    /// "watch.NAME.netns"), for `daemon --check`'s file:line.
    public var keyLines: [String: Int] = [:]

    public static let verdictNames = ["accept", "drop", "reject", "queue", "stolen", "unknown"]

    public static func load(path: String) throws -> DaemonConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileSystem.exists(path) ? "cannot be read (permissions?)" : "does not exist (see config/fwtrace.toml for an example)"
            throw ConfigError(file: path, line: 0, message: "the configuration file \(reason)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, line: 0, message: "the configuration file is not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> DaemonConfig {
        let document = try ConfigDocument.parse(text, file: file)
        var config = DaemonConfig()
        for table in document.tables {
            var reader = TableReader(table: table, file: file)
            switch table.name {
            case "":
                // Keys above the first table: a [daemon] key written before its header is the usual case.
                if let key = table.order.first {
                    throw ConfigError(file: file, line: table.entries[key]!.line, message: "unknown key '\(key)' at the top level: keys belong to a table, like [daemon] (write the [daemon] line above its keys)")
                }
            case "daemon": try readDaemon(table, &reader, into: &config)
            case "metrics":
                try readMetrics(&reader, into: &config)
                config.keyLines["metrics.listen"] = table.entries["listen"]?.line ?? table.line
            case "sink": try readSink(table, &reader, into: &config)
            case "watch": try readWatch(table, &reader, into: &config, file: file)
            default:
                let tables = ["daemon", "metrics", "sink", "watch"]
                let near = tables.min(by: { editDistance($0, table.name) < editDistance($1, table.name) }).flatMap { editDistance($0, table.name) <= 3 ? $0 : nil }
                let suggestion = near.map { " (did you mean \($0 == "daemon" || $0 == "metrics" ? "[\($0)]" : "[[\($0)]]")?)" } ?? ""
                throw ConfigError(file: file, line: table.line, message: "unknown table [\(table.name)]\(suggestion): the tables are [daemon], [metrics], [[sink]] and [[watch]]")
            }
        }
        try config.checkReferences(file: file)
        return config
    }

    private static func readDaemon(_ table: ConfigTable, _ reader: inout TableReader, into config: inout DaemonConfig) throws {
        var s = Settings()
        s.socketPath = try reader.string("socket") ?? s.socketPath
        guard s.socketPath.hasPrefix("/") else { throw reader.error("socket", "must be an absolute path") }
        s.socketGroup = try reader.string("socket_group") ?? s.socketGroup
        if let mode = try reader.string("socket_mode") {
            guard let m = UInt32(mode, radix: 8), m & ~0o777 == 0 else { throw reader.error("socket_mode", "must be octal permission bits as a string, like \"0660\"") }
            s.socketMode = m
        }
        s.maxSessions = try reader.integer("max_sessions", in: 1...256) ?? s.maxSessions
        s.maxTraceRate = Double(try reader.integer("max_trace_rate", in: 1...10_000_000) ?? Int(s.maxTraceRate))
        s.maxConnectionsPerUser = try reader.integer("max_connections_per_user", in: 1...(ClientAcceptor.maxConnections - ClientAcceptor.rootReserve)) ?? s.maxConnectionsPerUser
        s.clientBuffer = try reader.integer("client_buffer", in: 16...1_000_000) ?? s.clientBuffer
        s.clientStallTimeout = try reader.duration("client_stall_timeout", in: Bounds.clientStallTimeout) ?? s.clientStallTimeout
        s.requestTimeout = try reader.duration("request_timeout", in: Bounds.requestTimeout) ?? s.requestTimeout
        s.stopTimeout = try reader.duration("stop_timeout", in: Bounds.stopTimeout) ?? s.stopTimeout
        if let level = try reader.string("log_level") {
            guard let l = LogLevel(rawValue: level) else {
                throw reader.error("log_level", "'\(level)' is not a log level: \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            s.logLevel = l
        }
        try reader.finish(known: ["socket", "socket_group", "socket_mode", "max_sessions", "max_trace_rate", "max_connections_per_user", "client_buffer", "client_stall_timeout", "request_timeout", "stop_timeout", "log_level"])
        config.keyLines["daemon.socket_group"] = table.entries["socket_group"]?.line ?? table.line
        config.keyLines["daemon.socket"] = table.entries["socket"]?.line ?? table.line
        config.settings = s
    }

    private static func readSink(_ table: ConfigTable, _ reader: inout TableReader, into config: inout DaemonConfig) throws {
        let name = try reader.name()
        if config.sinks.contains(where: { $0.name == name }) { throw reader.error("name", "another sink is already named '\(name)'") }
        guard let kindText = try reader.string("type") else { throw reader.missing("type", "one of stdout, file, journald, socket") }
        guard let kind = SinkKind(rawValue: kindText) else { throw reader.error("type", "'\(kindText)' is not a sink type: stdout, file, journald or socket") }
        var target = ""
        var known = ["name", "type", "buffer"]
        switch kind {
        case .stdout: break
        case .file:
            guard let path = try reader.string("path") else { throw reader.missing("path", "the file to append JSON lines to, like \"/var/log/fwtrace/paths.jsonl\"") }
            guard path.hasPrefix("/") else { throw reader.error("path", "must be an absolute path") }
            target = path; known.append("path")
            config.keyLines["sink.\(name).path"] = table.entries["path"]?.line ?? table.line
        case .journald:
            target = try reader.string("journal_socket") ?? "/run/systemd/journal/socket"
            known.append("journal_socket")
        case .socket:
            guard let address = try reader.string("address") else { throw reader.missing("address", "unix:/path/to/socket or tcp:127.0.0.1:PORT") }
            do { _ = try CollectorAddress.parse(address) } catch let e as CollectorAddress.Invalid { throw reader.error("address", e.message) }
            target = address; known.append("address")
        }
        let buffer = try reader.integer("buffer", in: 16...10_000_000) ?? 10_000
        try reader.finish(known: known)
        config.sinks.append(Sink(name: name, kind: kind, target: target, buffer: buffer))
    }

    private static func readWatch(_ table: ConfigTable, _ reader: inout TableReader, into config: inout DaemonConfig, file: String) throws {
        let name = try reader.name()
        if config.watches.contains(where: { $0.name == name }) { throw reader.error("name", "another watch is already named '\(name)'") }
        let netns = try reader.string("netns")
        if netns != nil { config.keyLines["watch.\(name).netns"] = table.entries["netns"]?.line ?? table.line }
        if let netns { do { try ControlRequest.validateNamespace(netns) } catch let e as ProtocolError { throw reader.error("netns", e.message) } }
        let allNetns = try reader.boolean("all_netns") ?? false
        if allNetns && netns != nil { throw reader.error("all_netns", "all_netns = true traces every namespace: remove netns, or all_netns") }
        let backendText = try reader.string("backend") ?? "auto"
        guard let backend = TraceJob.BackendChoice(rawValue: backendText) else { throw reader.error("backend", "'\(backendText)' is not a backend: auto, nft or legacy") }
        var spec = FilterSpec()
        for field in FilterSpec.fieldNames {
            if case .integer(let n)? = table.entries[field]?.value { spec[field] = String(n); continue }
            spec[field] = try reader.string(field)
        }
        for field in FilterSpec.fieldNames { reader.used.insert(field) }
        // Each key alone first, so the error points at its line; then the combination.
        for field in FilterSpec.fieldNames where spec[field] != nil {
            var single = FilterSpec()
            single[field] = spec[field]
            do { _ = try single.makeFilter() } catch let e as FilterError {
                throw ConfigError(file: file, line: table.entries[field]?.line ?? table.line, message: "watch '\(name)': \(e.description.replacingOccurrences(of: "--", with: ""))")
            }
        }
        do { _ = try spec.makeFilter() } catch let e as FilterError {
            let line = FilterSpec.fieldNames.compactMap { table.entries[$0]?.line }.min() ?? table.line
            throw ConfigError(file: file, line: line, message: "watch '\(name)': \(e.description.replacingOccurrences(of: "--", with: ""))")
        }
        let limitText: String
        if case .integer(let n)? = table.entries["limit"]?.value { limitText = String(n); reader.used.insert("limit") } else { limitText = try reader.string("limit") ?? "10" }
        let limit: RateLimit
        do { limit = try RateLimit.parse(limitText) } catch { throw reader.error("limit", "'\(limitText)' is not a rate: packets per second, or N/second, N/minute, N/hour (a watch always has a limit)") }
        let verdicts = try reader.strings("verdicts") ?? []
        for v in verdicts where !verdictNames.contains(v) { throw reader.error("verdicts", "'\(v)' is not a verdict: \(verdictNames.joined(separator: ", "))") }
        let sinks = try reader.strings("sinks") ?? []
        try reader.finish(known: ["name", "netns", "all_netns", "backend", "limit", "verdicts", "sinks"] + FilterSpec.fieldNames)
        var watch = Watch(name: name, netns: netns, backend: backend, filter: spec, limit: limit, verdicts: verdicts, sinks: sinks, line: table.line)
        watch.allNetns = allNetns
        config.watches.append(watch)
    }

    /// References and global bounds, once everything is read.
    private mutating func checkReferences(file: String) throws {
        for watch in watches {
            for sink in watch.sinks where !sinks.contains(where: { $0.name == sink }) {
                throw ConfigError(file: file, line: watch.line, message: "watch '\(watch.name)' sends to sink '\(sink)', which is not defined (sinks: \(sinks.map(\.name).joined(separator: ", ")))")
            }
        }
        try checkMetricsPath(file: file)
        if watches.count > settings.maxSessions {
            throw ConfigError(file: file, line: watches[settings.maxSessions].line, message: "\(watches.count) watches exceed max_sessions = \(settings.maxSessions)")
        }
        // The all-namespaces watches, in order, share what the others leave: each takes what is
        // left after the earlier ones' share and one namespace for each later one.
        var used = watches.filter { !$0.allNetns }.reduce(0) { $0 + $1.limit.perSecond }
        for i in watches.indices where watches[i].allNetns {
            let later = watches[(i + 1)...].filter(\.allNetns).reduce(0) { $0 + $1.limit.perSecond }
            watches[i].maxNamespaces = Self.namespaceBound(perSecond: watches[i].limit.perSecond, available: settings.maxTraceRate - used - later)
            used += watches[i].tracedRate
        }
        if used > settings.maxTraceRate {
            throw ConfigError(file: file, line: watches.last?.line ?? 0, message: "the watches' limits add up to \(Int(used.rounded(.up)))/s, more than max_trace_rate = \(Int(settings.maxTraceRate))")
        }
    }
}

/// Reads one table's keys by type, remembering which were used so unknown ones are errors.
struct TableReader {
    let table: ConfigTable
    let file: String
    var used: Set<String> = []

    init(table: ConfigTable, file: String) { self.table = table; self.file = file }

    var place: String { table.name.isEmpty ? "top level" : "[\(table.name)]" }

    func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: table.entries[key]?.line ?? table.line, message: "\(key): \(message)")
    }
    func missing(_ key: String, _ what: String) -> ConfigError {
        ConfigError(file: file, line: table.line, message: "\(place) needs \(key) = \(what)")
    }

    mutating func string(_ key: String) throws -> String? {
        used.insert(key)
        guard let entry = table.entries[key] else { return nil }
        guard case .string(let s) = entry.value else { throw error(key, "expected a string in quotes, got \(entry.value.typeName)") }
        return s
    }
    mutating func strings(_ key: String) throws -> [String]? {
        used.insert(key)
        guard let entry = table.entries[key] else { return nil }
        guard case .array(let items) = entry.value else { throw error(key, "expected an array of strings, like [\"a\", \"b\"]") }
        return try items.map { item in
            guard case .string(let s) = item else { throw error(key, "expected an array of strings, like [\"a\", \"b\"]") }
            return s
        }
    }
    mutating func boolean(_ key: String) throws -> Bool? {
        used.insert(key)
        guard let entry = table.entries[key] else { return nil }
        guard case .boolean(let b) = entry.value else { throw error(key, "expected true or false, got \(entry.value.typeName)") }
        return b
    }
    mutating func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        used.insert(key)
        guard let entry = table.entries[key] else { return nil }
        guard case .integer(let n) = entry.value else { throw error(key, "expected an integer, got \(entry.value.typeName)") }
        guard range.contains(n) else { throw error(key, "\(n) is out of range \(range.lowerBound)…\(range.upperBound)") }
        return n
    }
    mutating func duration(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        if let entry = table.entries[key], !(entry.value.isString) {
            throw error(key, "expected a duration in quotes, like \"500ms\", \"10s\" or \"2m\", got \(entry.value.typeName)")
        }
        guard let text = try string(key) else { return nil }
        guard let d = try? DurationParser.parse(text), d > 0 else { throw error(key, "'\(text)' is not a duration: 500ms, 10s, 2m") }
        guard range.contains(d) else {
            throw error(key, "\(text) is out of range: give a duration from \(DurationParser.text(range.lowerBound)) to \(DurationParser.text(range.upperBound))")
        }
        return d
    }
    mutating func name() throws -> String {
        guard let name = try string("name") else { throw missing("name", "\"a-name\"") }
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }) else {
            throw error("name", "'\(name)' must be 1–64 letters, digits, '-', '_' or '.'")
        }
        return name
    }
    func finish(known: [String]) throws {
        for key in table.order where !known.contains(key) {
            let suggestion = known.min(by: { editDistance($0, key) < editDistance($1, key) }).flatMap { editDistance($0, key) <= 3 ? " (did you mean \($0)?)" : nil } ?? ""
            throw ConfigError(file: file, line: table.entries[key]!.line, message: "unknown key '\(key)' in \(place)\(suggestion)")
        }
    }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var previous = row[0]
        row[0] = i
        for j in 1...max(b.count, 1) where !b.isEmpty {
            let current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = current
        }
    }
    return row[b.count]
}

/// Where a socket sink sends: a unix stream socket or TCP on loopback (records never leave the host
/// through fwtrace itself; a collector forwards them).
public enum CollectorAddress: Sendable, Equatable {
    case unix(String)
    case tcp(host: String, port: UInt16)

    public struct Invalid: Error { let message: String }

    public static func parse(_ text: String) throws -> CollectorAddress {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/"), path.utf8.count < 108 else { throw Invalid(message: "unix: needs an absolute socket path shorter than 108 bytes") }
            return .unix(path)
        }
        if text.hasPrefix("tcp:") {
            let rest = text.dropFirst(4)
            guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]), port > 0 else {
                throw Invalid(message: "tcp: needs host:port, like tcp:127.0.0.1:5170")
            }
            var host = String(rest[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard host == "127.0.0.1" || host == "::1" || host == "localhost" else {
                throw Invalid(message: "'\(host)' is not loopback: fwtrace sends only to a local collector (127.0.0.1 or ::1), which forwards")
            }
            return .tcp(host: host == "localhost" ? "127.0.0.1" : host, port: port)
        }
        throw Invalid(message: "'\(text)' is not an address: unix:/path or tcp:127.0.0.1:PORT")
    }
}

extension ConfigValue {
    var isString: Bool { if case .string = self { return true }; return false }
}
