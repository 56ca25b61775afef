extension TracePipeline {
    /// Thrown inside a message walk to stop it where a message needs a fresh ruleset.
    private struct StaleStop: Error { let offset: Int }

    /// Feeds one datagram, the bytes at `range` of `buffer`, received at `time`; records go to
    /// `emit` in order. When a message names a chain or rule the rules lack (the ruleset
    /// changed), the pipeline stops before taking it and asks `reload` for the rules read again
    /// (nil: none to be had, offline or within the caller's reload rate limit); then the rest of
    /// the datagram is fed, that message taken with what the rules know, so feeding always ends.
    public func feed(_ buffer: [UInt8], range: Range<Int>, at time: Double,
                     reload: () -> Ruleset? = { nil }, emit: (TraceRecord) -> Void) {
        // The usual case, the whole datagram in one pass, first and without the loop.
        guard var stale = feedUntilStale(buffer, range: range, at: time, emit: emit) else { return }
        while true {
            if let fresh = reload() { replaceRuleset(fresh) }
            guard let next = feedUntilStale(buffer, range: stale, at: time, emit: emit) else { return }
            // The assembler takes a message it stopped at when it comes again: a second stop at
            // the same place would be a loop.
            precondition(next.lowerBound > stale.lowerBound, "a stale stop did not advance")
            stale = next
        }
    }

    /// One pass: nil once the datagram is done (or `isDone`), else the range still to feed.
    @inline(__always)
    private func feedUntilStale(_ buffer: [UInt8], range: Range<Int>, at time: Double, emit: (TraceRecord) -> Void) -> Range<Int>? {
        if let nft {
            return feedNft(nft, buffer, range: range, at: time, emit: emit)
        }
        return feedLegacy(legacy!, nflogDecoder!, buffer, range: range, at: time, emit: emit)
    }

    /// Emits the paths quiet for the quiet period at `now` (the caller's clock: the receive time
    /// of the newest datagram while a backlog is worked off).
    public func expire(now: Double, emit: (TraceRecord) -> Void) {
        deliver(nft?.expire(now: now) ?? legacy!.expire(now: now), emit: emit)
    }

    /// Emits everything still pending (the end of a session or a capture). `hints: false` for
    /// the bench, whose figures have always left them out here.
    public func flush(hints: Bool = true, emit: (TraceRecord) -> Void) {
        deliver(nft?.flush() ?? legacy!.flush(), hints: hints, emit: emit)
    }

    private func feedNft(_ assembler: PathAssembler, _ buffer: [UInt8], range: Range<Int>, at time: Double,
                         emit: (TraceRecord) -> Void) -> Range<Int>? {
        do {
            try NetlinkMessage.forEach(in: buffer, range: range) { message in
                guard !isDone, message.type == NftTraceDecoder.messageType else { return }
                // A message a stale stop left was counted when it first came.
                if !assembler.metUnknownRule { events += 1 }
                let event: NftTraceEvent
                do { event = try NftTraceDecoder.decode(buffer, body: message.body, names: names) } catch {
                    emit(.loss(count: 1, reason: "decode-error", detail: "\(error)"))
                    return
                }
                let paths = assembler.ingest(event, at: time)
                if assembler.metUnknownRule { throw StaleStop(offset: message.offset) }
                deliver(paths, emit: emit)
            }
        } catch let stop as StaleStop {
            return stop.offset..<range.upperBound
        } catch {
            emit(.loss(count: 1, reason: "decode-error", detail: "\(error)"))
        }
        return nil
    }

    /// Legacy frames the whole datagram first: one that cannot be framed is reported once and
    /// none of its messages is taken (as the legacy session always did).
    private func feedLegacy(_ assembler: LegacyPathAssembler, _ decoder: NflogMessageDecoding, _ buffer: [UInt8], range: Range<Int>, at time: Double,
                            emit: (TraceRecord) -> Void) -> Range<Int>? {
        let bytes = range == buffer.indices ? buffer : Array(buffer[range])
        guard let messages = try? NetlinkMessage.split(bytes) else {
            emit(.loss(count: 1, reason: "decode-error", detail: "a datagram could not be framed"))
            return nil
        }
        for message in messages where message.type == NflogMessage.netlinkType {
            guard !isDone else { return nil }
            if !assembler.metUnknownRule { events += 1 }
            do {
                let logged = try decoder.decode(bytes, message: message.offset..<message.body.upperBound)
                guard let prefix = logged.prefix else { continue }
                guard let trace = LegacyTracePrefix.parse(prefix) else {
                    if conntrackInvalid { assembler.noteConntrackInvalid(logged) }
                    continue
                }
                let paths = assembler.ingest(logged, trace: trace, at: time)
                if assembler.metUnknownRule {
                    return (range.lowerBound + message.offset)..<range.upperBound
                }
                deliver(paths, emit: emit)
            } catch {
                emit(.loss(count: 1, reason: "decode-error", detail: "\(error)"))
            }
        }
        return nil
    }

    /// Keeps what the filter wants, adds hints, yields, and counts against `count`.
    func deliver(_ found: [PacketPath], hints: Bool = true, emit: (TraceRecord) -> Void) {
        for var path in found where !isDone && keep(path) {
            if options.hints && hints { path.hints = HintEngine.hints(for: path, context: hintContext) }
            emit(.path(path))
            paths += 1
        }
    }

    private func keep(_ path: PacketPath) -> Bool {
        guard let filter = options.filter else { return true }
        if filter.accepts(path) && (nft != nil || filter.matches(path.packet)) { return true }
        return options.rewrittenFilters.contains { $0.accepts(path) && (nft != nil || $0.matches(path.packet)) }
    }
}
