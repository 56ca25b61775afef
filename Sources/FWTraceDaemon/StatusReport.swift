import FWTraceCore
import FWTraceKernel

/// `fwtrace status`: the daemon's answer, one JSON object (docs/schema/status.schema.json), and
/// the one-line STATUS= systemd shows. Reads only what sits behind locks: any thread may ask.
struct StatusReport {
    let configPath: String
    let started: Double
    let settings: DaemonConfig.Settings
    let sessions: [String: SessionRegistry.Entry]
    let watches: [DaemonConfig.Watch]
    let sinks: [String: RecordSink]

    var json: String {
        var w = JSONWriter()
        w.beginObject()
        w.string("type", "status")
        w.string("version", ControlProtocol.version)
        w.int("pid", CurrentProcess.id)
        w.string("since", Timestamp.rfc3339(started))
        w.string("config", configPath)
        w.int("max_sessions", settings.maxSessions)
        w.int("max_trace_rate", Int(settings.maxTraceRate))
        w.int("trace_rate_in_use", Int(sessions.values.reduce(0) { $0 + $1.rate }.rounded(.up)))
        writeWatches(&w)
        w.beginArray("sessions")
        for (id, entry) in sessions.sorted(by: { $0.key < $1.key }) where entry.kind == .client {
            w.beginObject()
            if let peer = entry.peer {
                w.string("user", peer.userName); w.int("uid", peer.uid); w.int("pid", peer.pid)
            }
            Self.write(session: id, entry, to: &w)
            w.endObject()
        }
        w.endArray()
        w.beginArray("sinks")
        for (name, sink) in sinks.sorted(by: { $0.key < $1.key }) {
            w.beginObject()
            w.string("name", name)
            w.string("type", sink.config.kind.rawValue)
            if !sink.config.target.isEmpty { w.string("target", sink.config.target) }
            w.int("delivered", sink.delivered.current)
            w.int("lost", sink.lost.current)
            w.int("queued", sink.queued)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }

    private func writeWatches(_ w: inout JSONWriter) {
        w.beginArray("watches")
        for watch in watches {
            w.beginObject()
            w.string("name", watch.name)
            if let (id, entry) = sessions.first(where: { $0.value.kind == .watch && $0.value.name == watch.name }) {
                Self.write(session: id, entry, to: &w)
            } else {
                w.string("state", "waiting")
                if let netns = watch.netns { w.string("netns", netns) }
            }
            w.beginArray("sinks"); for s in SinkSet.names(watch.sinks, running: sinks) { w.string(nil, s) }; w.endArray()
            w.endObject()
        }
        w.endArray()
    }

    private static func write(session id: String, _ entry: SessionRegistry.Entry, to w: inout JSONWriter) {
        let stats = entry.runner.stats.current
        w.string("session", id)
        w.string("filter", entry.filter)
        if let netns = entry.netns { w.string("netns", netns) }
        w.string("limit", entry.limit)
        w.string("state", stats.state.rawValue)
        if let backend = stats.backend { w.string("backend", backend) }
        w.string("since", Timestamp.rfc3339(stats.since))
        w.int("paths", stats.paths)
        w.int("lost", stats.lost)
        if let table = stats.table { w.string("table", table) }
        w.beginArray("rules"); for rule in stats.rules { w.string(nil, rule) }; w.endArray()
        if let error = stats.error { w.string("error", error) }
    }
}
