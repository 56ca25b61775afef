import FWTraceCore
import FWTraceKernel

/// One record on its way to the sinks: the JSON line every sink writes, and what journald
/// indexes (so `journalctl FWTRACE_VERDICT=drop` works without parsing JSON).
public struct OutputRecord: Sendable {
    public struct Field: Sendable, Equatable { public let name: String; public let value: String }
    /// What a trace session's loss record counts (the metrics add it up; a sink's own loss has none).
    public struct Loss: Sendable, Equatable { public let count: UInt64; public let reason: String }

    public var line: String
    public var type: String
    public var verdict: String?
    /// syslog priority: 6 info (accepted paths, sessions), 5 notice (other verdicts), 4 warning
    /// (dropped/rejected), 3 err (loss, error).
    public var priority: Int
    /// The path itself: for a client that asked for the text view, and journald's fields.
    public var path: PacketPath?
    public var context: RecordContext?
    /// Fields known only where the record was made (a sink's loss names the sink).
    var extraFields: [Field]
    public var loss: Loss?

    public init(line: String, type: String, verdict: String? = nil, priority: Int, fields: [Field] = [],
                path: PacketPath? = nil, context: RecordContext? = nil) {
        self.line = line; self.type = type; self.verdict = verdict; self.priority = priority
        self.extraFields = fields; self.path = path; self.context = context
    }

    public static func path(_ path: PacketPath, context: RecordContext) -> OutputRecord {
        // warning for drops and rejects, info for accepts, notice for the rest (queue, stolen, unknown).
        let priority = path.verdict == .drop || path.verdict == .reject ? 4 : path.verdict == .accept ? 6 : 5
        return OutputRecord(line: RecordEncoder.path(path, context: context), type: "path", verdict: path.verdict.rawValue,
                            priority: priority, path: path, context: context)
    }

    public static func other(_ line: String, type: String, context: RecordContext?) -> OutputRecord {
        OutputRecord(line: line, type: type, priority: type == "loss" || type == "error" ? 3 : 6, context: context)
    }

    /// A trace session's loss record.
    public static func loss(_ line: String, count: UInt64, reason: String, context: RecordContext) -> OutputRecord {
        var record = other(line, type: "loss", context: context)
        record.loss = Loss(count: count, reason: reason)
        return record
    }

    /// What journald indexes. Built by the journald sink only, not for every record on the
    /// trace thread.
    public var fields: [Field] {
        var fields = [Field(name: "FWTRACE_TYPE", value: type)]
        func add(_ name: String, _ value: String?) { if let value { fields.append(Field(name: name, value: value)) } }
        if let path {
            add("FWTRACE_VERDICT", path.verdict.rawValue)
            if let step = path.decidingStep {
                add("FWTRACE_TABLE", step.table)
                add("FWTRACE_CHAIN", step.chain)
                add("FWTRACE_RULE", step.rule.map(String.init))
                add("FWTRACE_RULE_TEXT", step.text)
                add("FWTRACE_DECIDED_BY", step.kind.rawValue)
            }
            add("FWTRACE_FAMILY", path.family.rawValue)
            add("FWTRACE_SRC", path.packet.src.description)
            add("FWTRACE_DST", path.packet.dst.description)
            add("FWTRACE_PROTO", path.packet.protocolName)
            add("FWTRACE_SPORT", path.packet.sport.map(String.init))
            add("FWTRACE_DPORT", path.packet.dport.map(String.init))
            add("FWTRACE_IIF", path.iif)
            add("FWTRACE_OIF", path.oif)
            add("FWTRACE_CT_STATE", path.conntrack?.state?.rawValue)
            if !path.hints.isEmpty { add("FWTRACE_HINTS", path.hints.map(\.code).joined(separator: " ")) }
        }
        if let context {
            add("FWTRACE_SESSION", context.session)
            add("FWTRACE_BACKEND", context.backend)
            add("FWTRACE_NETNS", context.netns)
            add("FWTRACE_WATCH", context.watch)
        }
        return fields + extraFields
    }

    /// A sink's own loss: it fell behind and dropped the oldest records it held.
    public static func sinkLoss(count: UInt64, sink: String, detail: String, host: String, session: String) -> OutputRecord {
        var w = JSONWriter()
        w.beginObject()
        w.string("schema", RecordEncoder.schema)
        w.string("type", "loss")
        w.string("time", Timestamp.rfc3339(SystemClock.now()))
        w.string("host", host)
        w.string("session", session)
        w.int("count", count)
        w.string("reason", "sink")
        w.string("unit", RecordEncoder.lossUnit(reason: "sink"))
        w.string("sink", sink)
        w.string("detail", detail)
        w.endObject()
        return OutputRecord(line: w.text, type: "loss", priority: 3, fields: [Field(name: "FWTRACE_SINK", value: sink)])
    }
}
