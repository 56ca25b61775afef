import Glibc
import FWTraceCore

/// One trace across several network namespaces (`follow --netns A --netns B`, `--all-netns`,
/// `--container`): a TraceJob per namespace, each on a thread of its own (setns moves only the
/// calling thread, so its sockets, libnftables and the -save commands it runs are that
/// namespace's), and on the calling thread the stitcher that joins one packet's segments into one
/// path record. Every thread stops on its own eventfd, never on the process's signals: the
/// calling thread reads those.
public final class MultiNamespaceTrace {
    /// A namespace to trace, as records name it.
    public struct Target: Sendable {
        /// nil: the namespace this process runs in.
        public var namespace: NetworkNamespace?
        public var label: String
        public var inode: UInt64?
        public var container: ContainerName?
        /// Found by a scan (`--all-netns`): failing to trace it is reported, not fatal.
        public var discovered = false
        public init(namespace: NetworkNamespace?, label: String, inode: UInt64?, container: ContainerName? = nil) {
            self.namespace = namespace; self.label = label; self.inode = inode; self.container = container
        }
    }

    public enum Event {
        /// A record of one namespace's session (started, loss, closing, error), in its context.
        case record(String, context: RecordContext)
        /// A loss record, and what it counts (the daemon's metrics read the count, not the line).
        case loss(String, count: UInt64, reason: String, context: RecordContext)
        case path(PacketPath, context: RecordContext)
        case notice(String)
    }

    public struct Outcome {
        public var paths = 0
        public var reason: TraceEndReason = .signal
        /// No namespace could be traced, or a namespace named by the user failed: its error.
        public var failure: UserFacingError?
    }

    /// One namespace's session on its thread.
    final class Runner: @unchecked Sendable {
        let target: Target
        let stop: Wakeup
        var worker: WorkerThread!
        let context = Locked<RecordContext?>(nil)
        init(target: Target) throws { self.target = target; stop = try Wakeup() }
    }

    private enum Message {
        case event(Runner, TraceJob.Event)
        case ended(Runner, TraceJob.Outcome?, Error?)
    }

    private let job: TraceJob
    private var targets: [Target]
    private let rescan: ((Set<UInt64>) -> [Target])?
    private let maxNamespaces: Int
    private var runners: [Runner] = []
    private var skipped: Set<UInt64> = []
    private let inbox = Locked<[Message]>([])
    private let inboxReady: Wakeup
    private let stitcher: SegmentStitcher
    private let host = TraceJob.hostname()

    /// `job` is the trace as the user asked it (filter, limits, count, timeout); `rescan`, when
    /// given, lists the namespaces again each second (a namespace that appears is traced, one that
    /// is gone stops).
    public init(job: TraceJob, targets: [Target], rescan: ((Set<UInt64>) -> [Target])? = nil, maxNamespaces: Int) throws {
        self.job = job
        self.options = job.options
        self.targets = targets
        self.rescan = rescan
        self.maxNamespaces = maxNamespaces
        inboxReady = try Wakeup()
        // A segment waits for the next namespace's: that one's path comes a quiet period after its
        // last event at the latest, from another thread.
        stitcher = SegmentStitcher(window: job.options.quietPeriod + 0.2)
    }

    /// The user's filter and, for the namespaces after a DNAT, the filter as the traced
    /// namespaces' DNAT rules rewrite it: each namespace's ruleset read in that namespace.
    public static func rewrittenFilters(_ filter: TraceFilter, targets: [Target]) -> [TraceFilter] {
        let rulesets = Locked<[Ruleset]>([])
        var threads: [WorkerThread] = []
        for target in targets {
            let thread = WorkerThread(name: "rules-\(target.label)") {
                do {
                    try target.namespace?.enter()
                    let reader = RulesetReader(context: try NftablesContext())
                    let ruleset = reader.load()
                    rulesets.withLock { $0.append(ruleset) }
                } catch {}   // a namespace that cannot be read adds no alternative; its session says why
            }
            if (try? thread.start()) != nil { threads.append(thread) }
        }
        let deadline = SystemClock.monotonic() + 10
        for thread in threads { thread.join(until: deadline) }
        return filter.rewrittenByDNAT(in: rulesets.current)
    }

    private var outcome = Outcome()
    private var options: TraceSessionOptions
    private var segmentCounts: [ObjectIdentifier: Int] = [:]
    private var failures: [UserFacingError] = []

    /// Until --count, --timeout, a signal (SIGINT, SIGTERM, SIGHUP) or, when the job has one, its
    /// stop descriptor (the daemon's: then no signal is read here).
    public func run(emit: (Event) -> Void) throws -> Outcome {
        let signals: FileDescriptor? = job.options.stopFD == nil ? FileDescriptor(adopting: try Signals.makeFD()) : nil
        let stopFD = job.options.stopFD ?? signals!.rawValue
        options.rewrittenFilters = Self.rewrittenFilters(options.filter, targets: targets)
        for target in targets { start(target, options: options, emit: emit) }
        let started = SystemClock.monotonic()
        var nextScan = started + 1
        while true {
            pump(emit)
            if !failures.isEmpty { outcome.reason = .stopped; outcome.failure = failures[0]; break }
            if isCounted { outcome.reason = .count; break }
            let now = SystemClock.monotonic()
            if let timeout = options.timeout, now - started >= timeout { outcome.reason = .timeout; break }
            if runners.allSatisfy(\.worker.isFinished) && rescan == nil { outcome.reason = .stopped; break }
            if let rescan, now >= nextScan {
                follow(rescan(Set(runners.compactMap(\.target.inode)).union(skipped)), options: options, emit: emit)
                nextScan = now + 1
            }
            var wait = nextScan - now
            if let deadline = stitcher.nextDeadline { wait = min(wait, max(0, deadline - now) + 0.005) }
            if let timeout = options.timeout { wait = min(wait, max(0, started + timeout - now)) }
            var fds = [pollfd(fd: inboxReady.fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, Int32(min(max(wait, 0), 1) * 1000) + 1)
            if fds[1].revents != 0 {
                if signals == nil { outcome.reason = .stopped; break }
                if Signals.read(stopFD) != nil { outcome.reason = .signal; break }
            }
        }
        stopAll()
        pump(emit)
        deliver(stitcher.flush(), emit)
        return outcome
    }

    private var isCounted: Bool { options.count.map { outcome.paths >= $0 } ?? false }

    /// What the sessions sent since the last time, then the groups that waited long enough.
    private func pump(_ emit: (Event) -> Void) {
        inboxReady.drain()
        for message in inbox.withLock({ box -> [Message] in defer { box.removeAll() }; return box }) { handle(message, emit) }
        deliver(stitcher.expired(now: SystemClock.monotonic()), emit)
    }

    private func deliver(_ groups: [SegmentStitcher.Group], _ emit: (Event) -> Void) {
        for group in groups where !isCounted {
            let path = group.merged()
            let first = runners.first { $0.target.label == group.segments[0].netns }
            emit(.path(path, context: first.map(context) ?? fallbackContext(group.segments[0].netns)))
            outcome.paths += 1
        }
    }

    private func context(_ runner: Runner) -> RecordContext { runner.context.current ?? fallbackContext(runner.target.label) }
    /// Before a session has chosen its backend (it failed to start).
    private func fallbackContext(_ netns: String) -> RecordContext {
        RecordContext(host: host, netns: netns, backend: job.backend == .legacy ? "legacy" : "nft", session: options.session)
    }

    private func handle(_ message: Message, _ emit: (Event) -> Void) {
        switch message {
        case .event(let runner, let event):
            let context = self.context(runner)
            switch event {
            case .started(let info):
                emit(.record(RecordEncoder.sessionStarted(info, time: SystemClock.now(), context: context), context: context))
            case .path(let path):
                segmentCounts[ObjectIdentifier(runner), default: 0] += 1
                stitcher.add(PathSegment(netns: runner.target.label, inode: runner.target.inode, container: runner.target.container, path: path), now: SystemClock.monotonic())
            case .loss(let count, let reason, let detail):
                emit(.loss(RecordEncoder.loss(count: count, reason: reason, detail: detail, time: SystemClock.now(), context: context), count: count, reason: reason, context: context))
            case .notice(let text):
                emit(.notice("netns \(runner.target.label): \(text)"))
            }
        case .ended(let runner, let ended, let error):
            let context = self.context(runner)
            if var ended {
                // Its segments: what it traced, joined or not.
                ended.summary.paths = segmentCounts[ObjectIdentifier(runner)] ?? 0
                if let closing = ended.closingRecord(context: context) { emit(.record(closing, context: context)) }
            } else if let error {
                let failure = error as? UserFacingError ?? UserFacingError("\(error)", exitCode: ExitCode.failure)
                emit(.record(RecordEncoder.error(message: "netns \(runner.target.label): \(failure.message)", code: failure.exitCode == ExitCode.unavailable ? "unavailable" : "session-failed", time: SystemClock.now(), context: context), context: context))
                if !runner.target.discovered { failures.append(failure) }
            }
        }
    }

    /// Every namespace's session stops (its rules go with its table) and is waited for.
    private func stopAll() {
        for runner in runners { runner.stop.signal() }
        let deadline = SystemClock.monotonic() + 10
        for runner in runners { runner.worker.join(until: deadline) }
    }

    /// A rescan: namespaces not traced yet are, up to the bound; traced ones that are gone stop.
    private func follow(_ found: [Target], options: TraceSessionOptions, emit: (Event) -> Void) {
        let inodes = Set(found.compactMap(\.inode))
        for runner in runners where !runner.worker.isFinished {
            if let inode = runner.target.inode, !inodes.contains(inode) { runner.stop.signal() }
        }
        let traced = Set(runners.filter { !$0.worker.isFinished }.compactMap(\.target.inode))
        for target in found {
            guard let inode = target.inode, !traced.contains(inode), !skipped.contains(inode),
                  !runners.contains(where: { $0.target.inode == inode && !$0.worker.isFinished }) else { continue }
            if runners.contains(where: { $0.target.inode == inode }) { continue }   // traced once, ended: not again
            start(target, options: options, emit: emit)
        }
    }

    private func start(_ target: Target, options: TraceSessionOptions, emit: (Event) -> Void) {
        let live = runners.filter { !$0.worker.isFinished }.count
        guard live < maxNamespaces else {
            if let inode = target.inode { skipped.insert(inode) }
            emit(.notice("netns \(target.label) is not traced: \(maxNamespaces) namespaces are traced already, the most at once (follow's --max-netns; through the daemon, max_trace_rate ÷ the limit: ask for a lower --limit)"))
            return
        }
        let runner: Runner
        do { runner = try Runner(target: target) } catch {
            emit(.notice("netns \(target.label) is not traced: \(error)")); return
        }
        var job = self.job
        job.options = options
        job.options.stopFD = runner.stop.fd
        // The stitched records are counted and timed here, not per namespace.
        job.options.count = nil
        job.options.timeout = nil
        job.options.beforeWait = nil
        job.namespace = target.namespace
        let inbox = self.inbox, ready = inboxReady
        runner.worker = WorkerThread(name: "trace-\(target.label)") { [job, runner] in
            do {
                let prepared = try job.prepare()
                var context = prepared.context
                context.netns = target.label
                runner.context.withLock { $0 = context }
                let ended = try job.run(prepared) { event in
                    inbox.withLock { $0.append(.event(runner, event)) }
                    ready.signal()
                }
                inbox.withLock { $0.append(.ended(runner, ended, nil)) }
            } catch {
                inbox.withLock { $0.append(.ended(runner, nil, error)) }
            }
            ready.signal()
        }
        do {
            try runner.worker.start()
            runners.append(runner)
        } catch {
            emit(.notice("netns \(target.label) is not traced: \(error)"))
        }
    }
}

extension MultiNamespaceTrace.Target {
    /// Every namespace on the host now (`--all-netns`), named with the runtimes' state. The
    /// runtimes' state is read only when the scan finds a namespace not in `known` (the rescan
    /// each second of a session over 100 namespaces spent half a core reading it every time).
    public static func scanAll(known: Set<UInt64> = []) -> [Self] {
        let listing = NamespaceListing.scan()
        let isNew = known.isEmpty || listing.entries.contains { !known.contains($0.inode) }
        return all(listing, containers: ContainerNames(isNew ? containerStates(listing) : []))
    }

    /// The container runtimes' state of this namespace and of every `ip netns` one (their
    /// /etc/netns/NAME), each distinct one once: what names the containers.
    public static func containerStates(_ listing: NamespaceListing) -> [ToolState] {
        var seen = Set<String>()
        return ([nil] + listing.entries.flatMap(\.names)).compactMap { name -> ToolState? in
            guard let containers = ToolStateReader.podmanContainers(namespace: name), seen.insert(containers).inserted else { return nil }
            var state = ToolState()
            state.containers = [containers]
            return state
        }
    }

    /// Every namespace of a scan (NamespaceListing), named as records show it: the container's
    /// name where its processes are a container's, else its `ip netns` name, else `initial` for
    /// the host's, else `inode:N`.
    public static func all(_ listing: NamespaceListing, containers: ContainerNames) -> [Self] {
        listing.entries.compactMap { entry in
            guard let path = entry.path() else { return nil }
            let container = entry.container.map(containers.name)
            let label = container?.name ?? entry.names.first ?? (entry.isInitial ? "initial" : container.map { String($0.id.prefix(12)) } ?? "inode:\(entry.inode)")
            // The initial namespace is this process's own (no setns): PID 1's may be hidden.
            let namespace = entry.isInitial && NamespaceListing.inodeOf("/proc/self/ns/net") == entry.inode
                ? nil : NetworkNamespace(spec: path, path: path, displayName: label)
            var target = Self(namespace: namespace, label: label, inode: entry.inode, container: container)
            target.discovered = true
            return target
        }
    }
}
