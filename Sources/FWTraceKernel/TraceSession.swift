import FWTraceCore

/// One `follow` on either backend: the backend installs, the session builds the pipeline, emits
/// `started`, runs the loop (SessionLoop) until count, timeout, signal or stop, has the backend
/// stop receiving, flushes, reports the closing losses and returns the summary; the backend
/// removes everything on every exit path. Runs on the calling thread (which must be in the
/// traced namespace).
final class TraceSession {
    let options: TraceSessionOptions
    let backend: TraceBackend

    init(options: TraceSessionOptions, backend: TraceBackend) {
        self.options = options; self.backend = backend
    }

    func run(emit: @escaping (TraceRecord) -> Void, notice: (String) -> Void) throws -> TraceSummary {
        defer { backend.remove() }
        let setup = try backend.install(notice: notice)
        var capture: CaptureWriter?
        if let path = options.capturePath { capture = try CaptureWriter(path: path) }
        defer { capture?.close() }
        emit(.started(setup.info))
        let loop = try SessionLoop(options: options, backend: backend, pipeline: makePipeline(setup), capture: capture, emit: emit)
        try loop.run(on: backend.startReceiving(loop))
        // Stopped by a signal, the daemon, --timeout or --count.
        let stop = try backend.stopReceiving(loop)
        loop.flushUnlessCounted()
        loop.reportProgress()   // what the backlog's drain received after the loop
        if let drops = stop.kernelDrops, drops > 0 {
            loop.addLoss(drops)
            emit(.loss(count: drops, reason: "kernel-drops", detail: "the kernel dropped \(drops) trace events for this session"))
        }
        loop.reportUnrecordedPackets(traced: stop.tracedPackets)
        return loop.summary
    }

    func makePipeline(_ setup: TraceBackendSetup) -> TracePipeline {
        var pipelineOptions = TracePipeline.Options()
        // Any trace rule in the namespace marks packets (an admin's own too): the pipeline keeps
        // only what the filter names.
        pipelineOptions.filter = options.filter
        pipelineOptions.rewrittenFilters = options.rewrittenFilters
        pipelineOptions.count = options.count
        let interfaces = setup.interfaces
        pipelineOptions.interfaceName = { interfaces.name($0) }
        let sockets = ListeningSockets()
        let conntrack = ConntrackTable()
        pipelineOptions.environment.listening = { sockets.isListening(protocolNumber: $0, address: $1, port: $2) }
        pipelineOptions.environment.controlConnections = { conntrack.controlConnections(between: $0, and: $1) }
        return TracePipeline(backend: setup.pipeline, ruleset: setup.ruleset, options: pipelineOptions)
    }
}
