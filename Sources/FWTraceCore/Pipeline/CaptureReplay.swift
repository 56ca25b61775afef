/// A file written by `follow --capture`, replayed offline through the trace pipeline
/// (`fwtrace replay`, the tests). The backend is told apart by the netlink message types; a
/// malformed line is reported and skipped, and no input stops the replay early.
public struct CaptureReplay {
    /// One line of the capture: a datagram, or why it is not one.
    public enum Line {
        case datagram(time: Double, bytes: [UInt8])
        case malformed(number: Int, detail: String)
    }

    public enum Output {
        case started(RecordEncoder.SessionInfo, time: Double)
        case record(TraceRecord, time: Double)
        /// A line that is not a datagram (an `error` record).
        case malformed(message: String, time: Double)
        case ended(RecordEncoder.SessionInfo, paths: Int, events: Int, time: Double)
    }

    public enum Backend: String, Sendable { case nft, legacy }

    public let lines: [Line]
    public let backend: Backend
    /// fwtrace's own table in an nft capture (the session id is in its name).
    public let ownTable: String?

    /// Latest receive time taken (9999-12-31): beyond it, or not a finite number, the line is
    /// malformed (an absurd time would keep its path pending past the end of the replay).
    static let latestTime = 253_402_300_799.0

    public init(text bytes: [UInt8]) {
        var lines: [Line] = []
        var number = 0
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 10) ?? bytes.count
            number += 1
            if let line = Self.parse(bytes[start..<end], number: number) { lines.append(line) }
            start = end + 1
        }
        self.lines = lines
        (backend, ownTable) = Self.identify(lines)
    }

    /// nil for blank and comment lines.
    static func parse(_ text: ArraySlice<UInt8>, number: Int) -> Line? {
        var text = text
        if text.last == 13 { text = text.dropLast() }
        if text.isEmpty || text.first == UInt8(ascii: "#") { return nil }
        let parts = text.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count <= 32, let time = Double(String(decoding: parts[0], as: UTF8.self)) else {
            return .malformed(number: number, detail: "expected '<time> <hex>'")
        }
        guard time.isFinite, time >= 0, time <= latestTime else {
            return .malformed(number: number, detail: "time out of range (0 to \(Int(latestTime)) s since the epoch)")
        }
        guard let bytes = CaptureFormat.hexBytes(Substring(decoding: parts[1], as: UTF8.self)), !bytes.isEmpty else {
            return .malformed(number: number, detail: "the datagram is not an even number of hex digits")
        }
        return .datagram(time: time, bytes: bytes)
    }

    /// The first trace message decides: an nft trace event or an nflog message. An nft capture's
    /// own table is the first fwtrace_ table an event names.
    static func identify(_ lines: [Line]) -> (Backend, String?) {
        var backend: Backend?
        for case .datagram(_, let bytes) in lines {
            var table: String?
            try? NetlinkMessage.forEach(in: bytes) { message in
                guard table == nil else { return }
                if backend == nil, message.type == NflogMessage.netlinkType { backend = .legacy }
                guard message.type == NftTraceDecoder.messageType, backend != .legacy else { return }
                backend = .nft
                if let event = try? NftTraceDecoder.decode(bytes, body: message.body), event.table.hasPrefix("fwtrace_") { table = event.table }
            }
            if backend == .legacy { return (.legacy, nil) }
            if let table { return (.nft, table) }
        }
        return (backend ?? .nft, nil)
    }

    /// The session id the records carry: the capture's (from the table name) when it has one.
    public var session: String {
        guard let ownTable else { return "replay" }
        return String(ownTable.dropFirst("fwtrace_".count))
    }

    public var info: RecordEncoder.SessionInfo {
        RecordEncoder.SessionInfo(filter: "", families: [], rules: [], limit: nil,
                                  table: ownTable.map { "inet \($0)" } ?? (backend == .legacy ? "raw" : ""))
    }

    /// The pipeline this capture is replayed through: as `follow` ran it, with no filter (the
    /// capture does not record it; its trace rule matched only what it named). A legacy
    /// capture's messages are decoded by `nflog` (libnetfilter_log's offline handle); nft
    /// captures need none.
    public func pipeline(ruleset: Ruleset, options: TracePipeline.Options, nflog: NflogMessageDecoding?) -> TracePipeline {
        switch backend {
        case .nft:
            return TracePipeline(backend: .nft(PathAssembler.Configuration(ownTable: ownTable ?? "fwtrace")), ruleset: ruleset, options: options)
        case .legacy:
            guard let nflog else { preconditionFailure("a legacy capture is replayed with an nflog decoder") }
            return TracePipeline(backend: .legacy(LegacyPathAssembler.Configuration(), conntrackInvalid: true, decoder: nflog), ruleset: ruleset, options: options)
        }
    }

    /// Replays every line in order. Paths that no verdict ended are emitted at the end (follow
    /// emitted them after its quiet period: only their order differs).
    public func run(ruleset: Ruleset, options: TracePipeline.Options, nflog: NflogMessageDecoding?, output: (Output) -> Void) {
        let pipeline = pipeline(ruleset: ruleset, options: options, nflog: nflog)
        var first = 0.0
        for case .datagram(let time, _) in lines { first = time; break }
        var clock = first
        output(.started(info, time: first))
        for line in lines {
            switch line {
            case .malformed(let number, let detail):
                output(.malformed(message: "capture line \(number): \(detail); skipped", time: clock))
            case .datagram(let time, let bytes):
                clock = time
                // Offline the rules cannot be read again: a stale stop goes on with them.
                pipeline.feed(bytes, range: bytes.indices, at: time) { output(.record($0, time: time)) }
            }
        }
        pipeline.flush { output(.record($0, time: clock)) }
        output(.ended(info, paths: pipeline.paths, events: pipeline.events, time: clock))
    }
}
