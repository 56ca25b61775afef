/// Encodes fwtrace's records as JSON lines (the contract in docs/schema/fwtrace-1.schema.json).
public struct RecordContext: Sendable {
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

public enum RecordEncoder {
    public static let schema = "fwtrace/1"

    static func header(_ w: inout JSONWriter, type: String, time: Double, context: RecordContext) {
        w.beginObject()
        w.string("schema", schema)
        w.string("type", type)
        w.string("time", Timestamp.rfc3339(time))
        w.string("host", context.host)
        if let netns = context.netns { w.string("netns", netns) }
        w.string("session", context.session)
        if let watch = context.watch { w.string("watch", watch) }
    }

    public static func path(_ p: PacketPath, context: RecordContext) -> String {
        var w = JSONWriter()
        header(&w, type: "path", time: p.time, context: context)
        w.string("backend", context.backend)
        w.string("trace_id", hex8(p.traceID))
        w.string("family", p.family.rawValue)
        w.beginObject("packet")
        w.string("iif", p.iif)
        w.string("oif", p.oif)
        w.string("src", p.packet.src.description)
        w.string("dst", p.packet.dst.description)
        w.string("proto", p.packet.protocolName)
        if let v = p.packet.sport { w.int("sport", v) }
        if let v = p.packet.dport { w.int("dport", v) }
        if p.packet.tcpFlags != nil {
            w.beginArray("tcp_flags")
            for f in p.packet.tcpFlagList { w.string(nil, f) }
            w.endArray()
        }
        if let v = p.packet.icmpType { w.int("icmp_type", v) }
        if let v = p.packet.icmpCode { w.int("icmp_code", v) }
        w.int("length", p.packet.length)
        w.int("ttl", p.packet.ttl)
        if let v = p.mark { w.int("mark", v) }
        if let v = p.packet.ipID { w.int("ip_id", v) }
        if let v = p.packet.flowLabel { w.int("flow_label", v) }
        w.endObject()
        if let ct = p.conntrack {
            w.beginObject("conntrack")
            if let s = ct.state { w.string("state", s) }
            if let d = ct.direction { w.string("direction", d) }
            w.beginArray("status")
            for s in ct.status { w.string(nil, s) }
            w.endArray()
            if let id = ct.id { w.int("id", id) }
            if let reason = ct.invalidReason { w.string("reason", reason) }
            w.endObject()
        }
        w.beginArray("path")
        for step in p.steps { encode(step, &w) }
        w.endArray()
        w.string("verdict", p.verdict.rawValue)
        if let d = p.decidingStep {
            w.beginObject("decided_by")
            w.string("hook", d.hook.rawValue)
            w.string("table", d.table)
            w.string("chain", d.chain)
            w.string("kind", d.kind == .policy ? "policy" : d.kind == .return ? "return" : "rule")
            if let r = d.rule { w.int("rule", r) }
            if let h = d.handle { w.int("handle", h) }
            if let t = d.text { w.string("text", t) }
            w.endObject()
        }
        if p.incomplete { w.bool("incomplete", true) }
        encodeHints(p.hints, &w)
        w.endObject()
        return w.text
    }

    static func encodeHints(_ hints: [Hint], _ w: inout JSONWriter) {
        w.beginArray("hints")
        for h in hints {
            w.beginObject()
            w.string("code", h.code)
            w.string("message", h.message)
            if !h.evidence.isEmpty {
                w.beginObject("evidence")
                for (k, v) in h.evidence { w.string(k, v) }
                w.endObject()
            }
            w.endObject()
        }
        w.endArray()
    }

    static func encode(_ s: PathStep, _ w: inout JSONWriter) {
        w.beginObject()
        w.string("hook", s.hook.rawValue)
        w.string("table", s.table)
        w.string("table_family", s.tableFamily.rawValue)
        w.string("chain", s.chain)
        w.string("kind", s.kind.rawValue)
        if let r = s.rule { w.int("rule", r) }
        if let h = s.handle { w.int("handle", h) }
        if let t = s.text { w.string("text", t) }
        w.string("verdict", s.verdict.rawValue)
        if let t = s.target { w.string("target", t) }
        if let c = s.counters {
            w.beginObject("counters"); w.int("packets", c.packets); w.int("bytes", c.bytes); w.endObject()
        }
        if let nat = s.nat {
            w.beginObject("nat")
            for (key, e) in [("before", nat.before), ("after", nat.after)] {
                w.beginObject(key)
                w.string("src", e.src.description); w.string("dst", e.dst.description)
                if let p = e.sport { w.int("sport", p) }
                if let p = e.dport { w.int("dport", p) }
                w.endObject()
            }
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
        w.string("event", "started")
        w.string("backend", context.backend)
        w.string("filter", info.filter)
        w.beginArray("families"); for f in info.families { w.string(nil, f) }; w.endArray()
        w.string("table", info.table)
        w.string("limit", info.limit)
        w.beginArray("rules"); for r in info.rules { w.string(nil, r) }; w.endArray()
        w.endObject()
        return w.text
    }

    public static func sessionEnded(_ info: SessionInfo, paths: Int, reason: String, time: Double,
                                    context: RecordContext, watched: [(String, String)] = [], hints: [Hint] = [],
                                    events: Int? = nil, lost: UInt64? = nil) -> String {
        var w = JSONWriter()
        header(&w, type: "session", time: time, context: context)
        w.string("event", "ended")
        w.string("backend", context.backend)
        w.string("filter", info.filter)
        w.beginArray("families"); for f in info.families { w.string(nil, f) }; w.endArray()
        w.int("paths", paths)
        if let events { w.int("events", events) }
        if let lost { w.int("lost", lost) }
        w.string("reason", reason)
        if !watched.isEmpty {
            w.beginObject("watched"); for (k, v) in watched { w.string(k, v) }; w.endObject()
        }
        if !hints.isEmpty { encodeHints(hints, &w) }
        w.endObject()
        return w.text
    }

    public static func loss(count: UInt64, reason: String, detail: String?, time: Double, context: RecordContext) -> String {
        var w = JSONWriter()
        header(&w, type: "loss", time: time, context: context)
        w.string("backend", context.backend)
        w.int("count", count)
        w.string("reason", reason)
        if let detail { w.string("detail", detail) }
        w.endObject()
        return w.text
    }

    public static func error(message: String, code: String, time: Double, context: RecordContext) -> String {
        var w = JSONWriter()
        header(&w, type: "error", time: time, context: context)
        w.string("message", message)
        w.string("code", code)
        w.endObject()
        return w.text
    }

    public static func hex8(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}
