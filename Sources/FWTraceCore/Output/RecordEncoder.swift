/// Encodes fwtrace's records as JSON lines (the contract in docs/schema/fwtrace-1.schema.json).
public struct RecordContext: Sendable, Equatable {
    public var host: String
    public var netns: String?
    public var backend: String
    public var session: String
    /// The daemon's configured watch that produced the record; nil for `follow`.
    public var watch: String?

    public init(host: String, netns: String?, backend: String, session: String) {
        self.host = host; self.netns = netns; self.backend = backend; self.session = session
    }
}

/// What every path record of a session starts with, encoded once: the members before the time
/// (`{"schema":…,"type":"path","time":`) and those between the time and the trace id's value
/// (host, netns, session, watch, backend, `"trace_id":`), in the order `header` writes them.
public struct PathRecordPrefix: Sendable {
    let head: [UInt8]
    let afterTime: [UInt8]

    public init(_ context: RecordContext) {
        var w = JSONWriter(capacity: 64)
        w.beginObject()
        w.str("schema", RecordEncoder.schema)
        w.str("type", "path")
        w.key("time")
        head = w.bytes
        var rest = JSONWriter(capacity: 256)
        rest.beginObject()
        RecordEncoder.contextMembers(&rest, context)
        rest.str("backend", context.backend)
        rest.key("trace_id")
        // `{"host":…` becomes `,"host":…`: these members follow the time.
        var bytes = rest.bytes
        bytes[0] = UInt8(ascii: ",")
        afterTime = bytes
    }
}

public enum RecordEncoder {
    public static let schema = "fwtrace/1"

    static func header(_ w: inout JSONWriter, type: String, time: Double, context: RecordContext) {
        w.beginObject()
        w.str("schema", schema)
        w.str("type", type)
        w.key("time"); Timestamp.appendJSON(time, into: &w)
        contextMembers(&w, context)
    }

    /// The members after the time that every record has (path records encode them once).
    static func contextMembers(_ w: inout JSONWriter, _ context: RecordContext) {
        w.str("host", context.host)
        if let netns = context.netns { w.str("netns", netns) }
        w.str("session", context.session)
        if let watch = context.watch { w.str("watch", watch) }
    }

    public static func path(_ p: PacketPath, context: RecordContext) -> String {
        var w = JSONWriter()
        path(p, context: context, into: &w)
        return w.text
    }

    /// The path record into a writer (no newline): for sinks that take bytes, not a String.
    public static func path(_ p: PacketPath, context: RecordContext, into w: inout JSONWriter) {
        path(p, prefix: PathRecordPrefix(context), into: &w)
    }

    /// The same with the session's constant members encoded once (`follow` writes thousands of
    /// paths a second with one context).
    public static func path(_ p: PacketPath, prefix: PathRecordPrefix, into w: inout JSONWriter) {
        w.appendRaw(prefix.head)
        Timestamp.appendJSON(p.time, into: &w)
        w.appendRaw(prefix.afterTime)
        w.hex8(p.traceID)
        w.endMember()
        w.lit("family", p.family.json)
        w.object("packet")
        w.str("iif", p.iif)
        w.str("oif", p.oif)
        w.key("src"); p.packet.src.appendJSON(into: &w)
        w.key("dst"); p.packet.dst.appendJSON(into: &w)
        w.str("proto", p.packet.protocolName)
        if let v = p.packet.sport { w.num("sport", v) }
        if let v = p.packet.dport { w.num("dport", v) }
        if p.packet.tcpFlags != nil {
            w.array("tcp_flags")
            if let flags = p.packet.tcpFlags {
                for (bit, name) in PacketSummary.tcpFlagNames where flags & bit != 0 { w.stringElement(name) }
            }
            w.endArray()
        }
        if let v = p.packet.icmpType { w.num("icmp_type", v) }
        if let v = p.packet.icmpCode { w.num("icmp_code", v) }
        w.num("length", p.packet.length)
        w.num("ttl", p.packet.ttl)
        if let v = p.mark { w.num("mark", v) }
        if let v = p.packet.ipID { w.num("ip_id", v) }
        if let v = p.packet.flowLabel { w.num("flow_label", v) }
        w.endObject()
        if let ct = p.conntrack {
            w.object("conntrack")
            if let s = ct.state { w.str("state", s.rawValue) }
            if let d = ct.direction { w.str("direction", d) }
            w.array("status")
            for s in ct.status { w.stringElement(s) }
            w.endArray()
            if let id = ct.id { w.num("id", id) }
            if let reason = ct.invalidReason { w.str("reason", reason) }
            w.endObject()
        }
        w.array("path")
        // Through the buffer: a step read from the array would be copied (its strings retained).
        p.steps.withUnsafeBufferPointer { steps in for i in steps.indices { encode(steps.baseAddress! + i, &w) } }
        w.endArray()
        w.lit("verdict", p.verdict.json)
        if let i = p.decidedBy { p.steps.withUnsafeBufferPointer { encodeDecidedBy($0.baseAddress! + i, &w) } }
        if p.incomplete { w.flag("incomplete", true) }
        if !p.segments.isEmpty { encodeSegments(p, &w) }
        encodeHints(p.hints, &w)
        w.endObject()
    }

    /// A path stitched across namespaces: its segments and the crossings between them.
    static func encodeSegments(_ p: PacketPath, _ w: inout JSONWriter) {
        w.array("segments")
        for s in p.segments {
            w.beginObject()
            w.str("netns", s.netns)
            if let inode = s.inode { w.num("inode", inode) }
            if let c = s.container {
                w.object("container")
                w.str("runtime", c.runtime)
                w.str("id", c.id)
                if let name = c.name { w.str("name", name) }
                w.endObject()
            }
            w.str("iif", s.iif)
            w.str("oif", s.oif)
            w.key("trace_id"); w.hex8(s.traceID); w.endMember()
            w.lit("verdict", s.verdict.json)
            w.num("first_step", s.firstStep)
            if s.incomplete { w.flag("incomplete", true) }
            w.endObject()
        }
        w.endArray()
        w.array("crossings")
        for c in p.crossings {
            w.beginObject()
            w.str("from", c.from)
            w.str("to", c.to)
            w.str("out", c.out)
            w.str("in", c.in)
            w.endObject()
        }
        w.endArray()
    }

    /// A step passed by value, even `borrowing`, was copied (its five strings retained and
    /// released) for every record: the encoder reads steps where they lie in the path's array.
    static func encodeDecidedBy(_ d: UnsafePointer<PathStep>, _ w: inout JSONWriter) {
        w.object("decided_by")
        w.lit("hook", d.pointee.hook.json)
        w.str("table", d.pointee.table)
        w.str("chain", d.pointee.chain)
        w.str("kind", d.pointee.kind == .policy ? "policy" : d.pointee.kind == .return ? "return" : "rule")
        if let r = d.pointee.rule { w.num("rule", r) }
        if let h = d.pointee.handle { w.num("handle", h) }
        if let t = d.pointee.text { w.str("text", t) }
        w.endObject()
    }

    static func encodeHints(_ hints: [Hint], _ w: inout JSONWriter) {
        w.array("hints")
        for h in hints {
            w.beginObject()
            w.str("code", h.code)
            w.str("message", h.message)
            if !h.evidence.isEmpty {
                w.object("evidence")
                for (k, v) in h.evidence { w.string(k, v) }
                w.endObject()
            }
            w.endObject()
        }
        w.endArray()
    }

    /// A step, read where it lies (see encodeDecidedBy).
    static func encode(_ s: UnsafePointer<PathStep>, _ w: inout JSONWriter) {
        w.beginObject()
        if let n = s.pointee.netns { w.str("netns", n) }
        w.lit("hook", s.pointee.hook.json)
        w.str("table", s.pointee.table)
        w.lit("table_family", s.pointee.tableFamily.json)
        w.str("chain", s.pointee.chain)
        w.lit("kind", s.pointee.kind.json)
        if let r = s.pointee.rule { w.num("rule", r) }
        if let h = s.pointee.handle { w.num("handle", h) }
        if let t = s.pointee.text { w.str("text", t) }
        w.lit("verdict", s.pointee.verdict.json)
        if let t = s.pointee.target { w.str("target", t) }
        // Only when non-zero, as the kernel sends it: unmarked paths encode as before.
        if s.pointee.mark != 0 { w.num("mark", s.pointee.mark) }
        // Made once per rule (RuleOwner.json): copied, not encoded, here.
        if let o = s.pointee.owner { w.key("owner"); w.appendRaw(o.json) }
        if let c = s.pointee.counters {
            w.object("counters"); w.num("packets", c.packets); w.num("bytes", c.bytes); w.endObject()
        }
        if let nat = s.pointee.nat {
            w.object("nat")
            func endpoint(_ e: Endpoint) {
                w.key("src"); e.src.appendJSON(into: &w); w.key("dst"); e.dst.appendJSON(into: &w)
                if let p = e.sport { w.num("sport", p) }
                if let p = e.dport { w.num("dport", p) }
                w.endObject()
            }
            w.object("before"); endpoint(nat.before)
            w.object("after"); endpoint(nat.after)
            w.endObject()
        }
        w.endObject()
    }

    public struct SessionInfo: Sendable {
        public var filter: String
        public var families: [String]
        public var rules: [String]
        public var limit: String?
        public var table: String
        public init(filter: String, families: [String], rules: [String], limit: String?, table: String) {
            self.filter = filter; self.families = families; self.rules = rules; self.limit = limit; self.table = table
        }
    }

    public static func sessionStarted(_ info: SessionInfo, time: Double, context: RecordContext) -> String {
        var w = JSONWriter()
        header(&w, type: "session", time: time, context: context)
        w.str("event", "started")
        w.str("backend", context.backend)
        w.str("filter", info.filter)
        w.array("families"); for f in info.families { w.stringElement(f) }; w.endArray()
        w.str("table", info.table)
        w.str("limit", info.limit)
        w.array("rules"); for r in info.rules { w.stringElement(r) }; w.endArray()
        w.endObject()
        return w.text
    }

    public static func sessionEnded(_ info: SessionInfo, paths: Int, reason: String, time: Double,
                                    context: RecordContext, watched: [(String, String)] = [], hints: [Hint] = [],
                                    events: Int? = nil, lost: UInt64? = nil) -> String {
        var w = JSONWriter()
        header(&w, type: "session", time: time, context: context)
        w.str("event", "ended")
        w.str("backend", context.backend)
        w.str("filter", info.filter)
        w.array("families"); for f in info.families { w.stringElement(f) }; w.endArray()
        w.num("paths", paths)
        if let events { w.num("events", events) }
        if let lost { w.num("lost", lost) }
        w.str("reason", reason)
        if !watched.isEmpty {
            w.object("watched"); for (k, v) in watched { w.string(k, v) }; w.endObject()
        }
        if !hints.isEmpty { encodeHints(hints, &w) }
        w.endObject()
        return w.text
    }

    /// What a loss record's count counts, by its reason (docs/output.md, `loss` records).
    public static func lossUnit(reason: String) -> String {
        switch reason {
        case "sink": return "records"
        case "unrecorded-packets": return "packets"
        default: return "events"
        }
    }

    public static func loss(count: UInt64, reason: String, detail: String?, time: Double, context: RecordContext) -> String {
        var w = JSONWriter()
        header(&w, type: "loss", time: time, context: context)
        w.str("backend", context.backend)
        w.num("count", count)
        w.str("reason", reason)
        w.str("unit", lossUnit(reason: reason))
        if let detail { w.str("detail", detail) }
        w.endObject()
        return w.text
    }

    public static func error(message: String, code: String, time: Double, context: RecordContext) -> String {
        var w = JSONWriter()
        header(&w, type: "error", time: time, context: context)
        w.str("message", message)
        w.str("code", code)
        w.endObject()
        return w.text
    }

    public static func hex8(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}

// The enum values of a path as JSON literals (quoted): copied as they are, with no String made
// and no escaping scan, several times per step. Each must equal the case's quoted rawValue
// (checked by a test).
extension Hook {
    var json: StaticString {
        switch self {
        case .ingress: "\"ingress\""
        case .prerouting: "\"prerouting\""
        case .input: "\"input\""
        case .forward: "\"forward\""
        case .output: "\"output\""
        case .postrouting: "\"postrouting\""
        case .egress: "\"egress\""
        case .unknown: "\"unknown\""
        }
    }
}

extension TableFamily {
    var json: StaticString {
        switch self {
        case .ip: "\"ip\""
        case .ip6: "\"ip6\""
        case .inet: "\"inet\""
        case .arp: "\"arp\""
        case .bridge: "\"bridge\""
        case .netdev: "\"netdev\""
        case .unknown: "\"unknown\""
        }
    }
}

extension PacketSummary.Family {
    var json: StaticString {
        switch self {
        case .ip: "\"ip\""
        case .ip6: "\"ip6\""
        }
    }
}

extension PathStep.Kind {
    var json: StaticString {
        switch self {
        case .rule: "\"rule\""
        case .jump: "\"jump\""
        case .goto: "\"goto\""
        case .return: "\"return\""
        case .policy: "\"policy\""
        }
    }
}

extension StepVerdict {
    var json: StaticString {
        switch self {
        case .accept: "\"accept\""
        case .drop: "\"drop\""
        case .continue: "\"continue\""
        case .jump: "\"jump\""
        case .goto: "\"goto\""
        case .return: "\"return\""
        case .queue: "\"queue\""
        case .stolen: "\"stolen\""
        case .repeat: "\"repeat\""
        case .stop: "\"stop\""
        case .unknown: "\"unknown\""
        }
    }
}

extension PacketVerdict {
    var json: StaticString {
        switch self {
        case .accept: "\"accept\""
        case .drop: "\"drop\""
        case .reject: "\"reject\""
        case .queue: "\"queue\""
        case .stolen: "\"stolen\""
        case .unknown: "\"unknown\""
        }
    }
}
