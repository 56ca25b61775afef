import ArgumentParser
import FWTraceCore
import FWTraceKernel
import FWTraceDaemon
import Foundation
import Glibc

struct FilterOptions: ParsableArguments {
    @Option(name: [.customShort("p"), .long], help: "Protocol: tcp, udp, icmp, icmpv6, sctp or a number.")
    var proto: String?
    @Option(help: ArgumentHelp("Source port: 22, a range 1024:2048, or a list 80,443.", valueName: "ports"))
    var sport: String?
    @Option(help: ArgumentHelp("Destination port: 8080, a range 8000:8100, or a list 80,443.", valueName: "ports"))
    var dport: String?
    @Option(name: [.customShort("s"), .customLong("src")], help: ArgumentHelp("Source address or CIDR, IPv4 or IPv6.", valueName: "address"))
    var src: String?
    @Option(name: [.customShort("d"), .customLong("dst")], help: ArgumentHelp("Destination address or CIDR, IPv4 or IPv6.", valueName: "address"))
    var dst: String?
    @Option(name: [.customShort("i"), .customLong("in-interface")], help: ArgumentHelp("Input interface (trailing + matches a prefix: veth+).", valueName: "name"))
    var inInterface: String?
    @Option(name: [.customShort("o"), .customLong("out-interface")], help: ArgumentHelp("Output interface (trailing + matches a prefix).", valueName: "name"))
    var outInterface: String?
    @Flag(name: .customShort("4"), help: "Trace IPv4 only.")
    var ipv4Only = false
    @Flag(name: .customShort("6"), help: "Trace IPv6 only.")
    var ipv6Only = false

    var spec: FilterSpec {
        var spec = FilterSpec()
        spec.proto = proto; spec.sport = sport; spec.dport = dport; spec.src = src; spec.dst = dst
        spec.inInterface = inInterface; spec.outInterface = outInterface
        spec.family = ipv4Only ? "ipv4" : ipv6Only ? "ipv6" : nil
        return spec
    }

    func makeFilter() throws -> TraceFilter {
        if ipv4Only && ipv6Only { throw FilterError("-4 and -6 exclude each other; give neither to trace both", example: "-4 --dport 80") }
        return try spec.makeFilter()
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case auto, json, text }
enum Backend: String, ExpressibleByArgument, CaseIterable { case auto, nft, legacy }
enum ColorChoice: String, ExpressibleByArgument, CaseIterable { case auto, always, never }
enum StepsChoice: String, ExpressibleByArgument, CaseIterable {
    case folded, all
    var detail: StepDetail { self == .all ? .all : .folded }
    /// The option's help, the same for follow and replay.
    static let help = ArgumentHelp("Steps in the text view: folded (each run of jumps and returns where no rule matched or acted is one line that says how many steps it hides and in which chains; every rule that matched, changed the packet or decided has its own line) or all (every step). JSON always has every step.", valueName: "steps")
}

struct FollowCommand: ParsableCommand {
    /// What follow's exit codes mean: its help and the top-level help list the same.
    static let exitCodes: [(Int32, String)] = [
        (ExitCode.success, "done (count reached, timeout with matches, or interrupted)"),
        (ExitCode.failure, "runtime failure"),
        (ExitCode.usage, "invalid arguments (a malformed filter, an unknown option)"),
        (ExitCode.noMatch, "--timeout passed and no packet matched the filter"),
        (ExitCode.noPrivilege, "not enough privileges (root, or the daemon's group)"),
        (ExitCode.unavailable, "backend or namespace unavailable, daemon limits reached"),
        (ExitCode.daemonStopped, "the fwtrace daemon stopped before the session ended"),
    ]

    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Trace matching packets live and print each one's path through the firewall.",
        discussion: """
        Installs a table `inet fwtrace_<session>` (flags owner: the kernel deletes it when fwtrace exits, even after kill -9) with base chains at prerouting and output, priority -350, whose one rule sets the trace bit on packets that match the filter, at most --limit per second. Every later chain of every table (iptables-nft's included) then reports the packet. Where the ruleset has ingress chains or bridge chains, tables `netdev` and `bridge` of the same name (also flags owner) mark the packets there first, at the lowest priority: a drop at ingress, or a bridged frame's steps, are then in the path.

        When an fwtrace daemon answers on its control socket, follow traces through it: members of the daemon's group (socket_group, default fwtrace) need no root. --standalone, --capture, --no-limit, --ct-invalid, --receive-backlog and a namespace path need a process of one's own, as root.

        On a terminal the output is a readable view; piped, or with --format json, one JSON object per line (schema fwtrace/1, see docs/schema/fwtrace-1.schema.json): a `session` record, then one `path` record per packet, `loss` records if the kernel dropped events, and a closing `session` record.

        Across namespaces (--netns given several times, --all-netns, --container), a session runs in each namespace and each packet's parts become one path record: every step names its namespace, `segments` says what each namespace decided and `crossings` where the packet went from one to the next. A namespace after a DNAT sees the packet rewritten (dport 80 in the container for --dport 8080): its trace rules also match the filter as the traced namespaces' DNAT rules rewrite it. The rate limit is per namespace.

        The readable view prints each packet's verdict and the step that decided it first, then its way through the chains. A firewall that firewalld, ufw or a container runtime wrote sends a packet through dozens of jumps and returns where nothing matches; each such run is folded into one line that says how many steps it hides and in which chains, so that what matched, changed the packet (NAT, a mark) or decided stands out. --steps all prints every step; JSON always has them all.

        EXAMPLES:
          sudo fwtrace follow --dport 8080
          sudo fwtrace follow -p tcp -s 10.0.0.0/8 --dport 80,443 --count 10
          sudo fwtrace follow -6 -p icmpv6 --timeout 5s --format json
          sudo fwtrace follow --netns $(pidof -s nginx) --dport 80
          sudo fwtrace follow --dport 22 --steps all
          sudo fwtrace follow --all-netns -p tcp --dport 8080
          sudo fwtrace follow --container web --dport 8080

        \(ExitCodesHelp.section(FollowCommand.exitCodes))
        """
    )

    @OptionGroup(title: "Filter") var filterOptions: FilterOptions

    @Option(help: ArgumentHelp("Exit after N packet paths (1 to 1000000000).", valueName: "N"))
    var count: Int?
    @Option(help: ArgumentHelp("Exit after this long: 500ms, 10s, 2m or seconds (1ms to 720h).", valueName: "duration"))
    var timeout: String?
    @Option(help: ArgumentHelp("Output format: auto (text on a terminal, json otherwise), json, text.", valueName: "format"))
    var format: OutputFormat = .auto
    @Option(help: ArgumentHelp("Trace in another network namespace: an `ip netns` name, a /proc/PID/ns/net path, or a PID. Given several times, trace in each and join each packet's parts into one path.", valueName: "name|path|pid"))
    var netns: [String] = []
    @Flag(help: "Trace in every network namespace (the host's, `ip netns` ones, the runtimes' and those of running processes, and those that appear during the session), and join each packet's parts into one path.")
    var allNetns = false
    @Option(help: ArgumentHelp("Also trace in this container's network namespace (podman, Docker, containerd, CRI-O: its name or id), with the --netns given or else this one.", valueName: "name|id"))
    var container: [String] = []
    @Option(help: ArgumentHelp("With several namespaces: trace in at most this many (1 to 1024); the rest are reported, not traced.", valueName: "N"))
    var maxNetns: Int = 64
    @Option(help: ArgumentHelp("Firewall backend: auto, nft (nftables and iptables-nft), legacy (iptables-legacy).", valueName: "backend"))
    var backend: Backend = .auto
    @Option(help: ArgumentHelp("Trace at most this many packets per second (kernel-side), or N/minute.", valueName: "rate"))
    var limit: String = "100"
    @Flag(help: "Trace every matching packet (no rate limit): careful on a busy host.")
    var noLimit = false
    @Option(help: ArgumentHelp("Emit a path this long after its last event when no verdict ended it (1ms to 5s).", valueName: "duration"))
    var quietPeriod: String = "100ms"
    @Option(help: ArgumentHelp("Also write every raw trace message received to FILE (hex, for bug reports and replay).", valueName: "file"))
    var capture: String?
    @Option(help: ArgumentHelp("Colour in the text view: auto (on a terminal, unless NO_COLOR is set), always, never.", valueName: "when"))
    var color: ColorChoice = .auto
    @Option(help: StepsChoice.help)
    var steps: StepsChoice = .folded
    @Flag(help: "Legacy backend: have conntrack log invalid packets (nf_conntrack_log_invalid) for the session and show why it called a packet INVALID.")
    var ctInvalid = false
    @Option(help: ArgumentHelp("Netlink receive buffer in bytes (default 16 MiB; 4096 to 1 GiB).", valueName: "bytes", visibility: .hidden))
    var receiveBuffer: Int = TraceSessionOptions.defaultReceiveBuffer
    @Option(help: ArgumentHelp("Trace data read from the kernel but not yet processed, held in memory at most (nft backend; default 32 MiB, about 200,000 events; 0 to 1 GiB). A burst beyond what fwtrace processes at once waits here; past it the kernel drops, and the loss is reported.", valueName: "bytes"))
    var receiveBacklog: Int = TraceSessionOptions.defaultReceiveBacklog

    @Flag(help: "Trace in this process (as root) even when an fwtrace daemon answers on the control socket.")
    var standalone = false
    @Option(help: ArgumentHelp("The daemon's control socket (default $FWTRACE_SOCKET, else /run/fwtrace/fwtrace.sock).", valueName: "path"))
    var socket: String?

    func run() throws {
        let limits = try checkedLimits()
        if ctInvalid && backend == .nft {
            throw UserFacingError("--ct-invalid needs the legacy backend (conntrack's invalid-packet log reaches fwtrace through nfnetlink_log): add --backend legacy", exitCode: ExitCode.usage)
        }
        let json: Bool = format == .json || (format == .auto && isatty(1) == 0)
        let colored = color == .always || (color == .auto && isatty(1) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil)
        let socketPath = DaemonClient.socketPath(socket)
        if !standalone, daemonCapable, let client = try DaemonClient.connect(path: socketPath) {
            throw ExitStatus(code: try DaemonFollow.run(client, request: controlRequest(json: json, colored: colored, limits: limits), json: json))
        }

        if !Privileges.hasNetAdmin() { throw notPrivileged(socketPath: socketPath, daemonCapable: daemonCapable) }
        if netns.count > 1 || allNetns || !container.isEmpty {
            return try runAcrossNamespaces(traceJob(limits), json: json, view: TextView(color: colored, steps: steps.detail))
        }
        var job = try traceJob(limits)
        let prepared = try job.prepare()
        let context = prepared.context
        let out = BatchedOutput(fd: 1)
        defer { out.flush() }
        job.options.beforeWait = { out.flush() }
        let printer = FollowPrinter(out: out, context: context, json: json, view: TextView(color: colored, steps: steps.detail), namespace: job.namespace)
        let outcome = try job.run(prepared, emit: printer.print)
        if json, let closing = outcome.closingRecord(context: context) { out.append(closing) }
        out.flush()
        if let noMatch = outcome.noMatch {
            Console.error("fwtrace: \(noMatch.hint.message)")
            throw ExitStatus(code: ExitCode.noMatch)
        }
    }

    /// The filter and the limits of the session, parsed from the options.
    private struct Limits {
        let filter: TraceFilter
        let timeoutSeconds: Double?
        let rate: RateLimit?
        let quietPeriod: Double
    }

    /// Every count, size and duration in range before anything is installed (Bounds); a value out
    /// of range or malformed is a usage error.
    private func checkedLimits() throws -> Limits {
        do {
            if let count { try Bounds.check(count, option: "--count", in: Bounds.count, unit: "a number of paths", example: "--count 1") }
            try Bounds.check(receiveBuffer, option: "--receive-buffer", in: Bounds.receiveBuffer, unit: "a number of bytes", example: "--receive-buffer 16777216")
            try Bounds.check(maxNetns, option: "--max-netns", in: Bounds.namespaces, unit: "a number of namespaces", example: "--max-netns 64")
            try Bounds.check(receiveBacklog, option: "--receive-backlog", in: Bounds.receiveBacklog, unit: "a number of bytes", example: "--receive-backlog 8388608")
            let filter = try filterOptions.makeFilter()
            let timeoutSeconds = try timeout.map { try DurationParser.parse($0, option: "--timeout", in: Bounds.timeout, example: "--timeout 10s") }
            let rate = noLimit ? nil : try RateLimit.parse(limit)
            let quiet = try DurationParser.parse(quietPeriod, option: "--quiet-period", in: Bounds.quietPeriod, example: "--quiet-period 100ms")
            return Limits(filter: filter, timeoutSeconds: timeoutSeconds, rate: rate, quietPeriod: quiet)
        } catch let error as FilterError {
            throw UserFacingError(error.description, exitCode: ExitCode.usage)
        }
    }

    /// Whether the daemon can serve this session: not with what only a process of one's own can
    /// do (unlimited traces, files written as the caller, namespace paths, conntrack's invalid log).
    private var daemonCapable: Bool {
        capture == nil && !noLimit && !ctInvalid && receiveBuffer == TraceSessionOptions.defaultReceiveBuffer && receiveBacklog == TraceSessionOptions.defaultReceiveBacklog && !(netns.first?.hasPrefix("/") ?? false)
            && netns.count <= 1 && container.isEmpty && !(allNetns && !netns.isEmpty) && maxNetns == 64
    }

    /// The session asked of the daemon: the options as the user gave them, parsed on its side.
    private func controlRequest(json: Bool, colored: Bool, limits: Limits) -> ControlRequest {
        var request = ControlRequest(operation: .follow)
        request.filter = filterOptions.spec
        request.netns = netns.first
        request.allNetns = allNetns
        request.backend = backend.rawValue
        request.limit = limit
        request.count = count
        request.timeout = timeout
        // Only when not the default, so that a daemon from before the field still serves the rest.
        if limits.quietPeriod != TraceSessionOptions.defaultQuietPeriod { request.quietPeriod = quietPeriod }
        request.view = json ? .json : .text
        request.color = colored
        request.steps = steps.detail
        return request
    }

    /// The session this process runs itself (the namespace resolved here, as root).
    private func traceJob(_ limits: Limits) throws -> TraceJob {
        var job = TraceJob(filter: limits.filter, limit: limits.rate)
        job.options.count = count
        job.options.timeout = limits.timeoutSeconds
        job.timeoutText = timeout ?? ""
        job.options.quietPeriod = limits.quietPeriod
        job.options.capturePath = capture
        job.options.receiveBuffer = receiveBuffer
        job.options.receiveBacklog = receiveBacklog
        job.options.conntrackInvalid = ctInvalid
        job.backend = TraceJob.BackendChoice(rawValue: backend.rawValue) ?? .auto
        job.namespace = try netns.first.map(NetworkNamespace.resolve)
        job.allNamespaces = allNetns
        job.maxNamespaces = maxNetns
        return job
    }
}

/// A standalone session's events as follow prints them: records to the batched output (json) or
/// the text view, and what is not a path on stderr.
private struct FollowPrinter {
    let out: BatchedOutput
    let context: RecordContext
    let json: Bool
    let view: TextView
    let namespace: NetworkNamespace?

    func print(_ event: TraceJob.Event) {
        switch event {
        case .started(let i):
            if json {
                out.append(RecordEncoder.sessionStarted(i, time: SystemClock.now(), context: context))
            } else {
                Console.error("fwtrace: tracing \(i.filter) in \(namespace.map { "netns \($0.displayName)" } ?? "this namespace") (\(i.limit ?? "no limit")); Ctrl-C to stop\n")
            }
        case .path(let path):
            if json { out.appendPath(path, context: context) } else { out.append(view.render(path, netns: namespace?.displayName)) }
        case .loss(let count, let reason, let detail):
            if json {
                out.append(RecordEncoder.loss(count: count, reason: reason, detail: detail, time: SystemClock.now(), context: context))
            } else {
                Console.error("fwtrace: LOST \(count) events (\(reason)): \(detail ?? "")\n")
            }
        case .notice(let text):
            Console.error("fwtrace: \(text)\n")
        }
    }
}

extension FollowCommand {
    /// What `follow` without CAP_NET_ADMIN says: run it as root, and, when an fwtrace daemon is
    /// there, how to trace through it without root.
    func notPrivileged(socketPath: String, daemonCapable: Bool) -> UserFacingError {
        var own: [String] = []
        if standalone { own.append("--standalone") }
        if capture != nil { own.append("--capture") }
        if noLimit { own.append("--no-limit") }
        if ctInvalid { own.append("--ct-invalid") }
        if receiveBuffer != TraceSessionOptions.defaultReceiveBuffer { own.append("--receive-buffer") }
        if receiveBacklog != TraceSessionOptions.defaultReceiveBacklog { own.append("--receive-backlog") }
        if netns.first?.hasPrefix("/") ?? false { own.append("a namespace path in --netns") }
        if netns.count > 1 { own.append("several --netns") }
        if allNetns && !netns.isEmpty { own.append("--all-netns with --netns") }
        if maxNetns != 64 { own.append("--max-netns") }
        if !container.isEmpty { own.append("--container") }
        let options = own.count > 1 ? own.dropLast().joined(separator: ", ") + " and " + own.last! : own.first ?? ""
        var st = stat()
        guard stat(socketPath, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else {
            return Privileges.notPrivileged(command: "follow")   // no daemon here: root is the only way
        }
        let group = getgrgid(st.st_gid).flatMap { $0.pointee.gr_name.map { String(cString: $0) } } ?? "gid \(st.st_gid)"
        let answers: Bool
        do { answers = try DaemonClient.connect(path: socketPath) != nil } catch { answers = true }
        if !answers {
            return Privileges.notPrivileged(command: "follow", alternative: "or start the fwtrace daemon (systemctl start fwtrace; nothing answers on \(socketPath)): members of group \(group) trace through it without root")
        }
        if !daemonCapable || standalone {
            return Privileges.notPrivileged(command: "follow", alternative: "or drop \(options) to trace through the fwtrace daemon on \(socketPath), which members of group \(group) use without root")
        }
        return Privileges.notPrivileged(command: "follow", alternative: "or trace through the fwtrace daemon on \(socketPath) as a member of group \(group)")
    }
}

/// `follow` through the daemon: the records it streams, printed as a standalone run prints them.
enum DaemonFollow {
    static func run(_ client: DaemonClient, request: ControlRequest, json: Bool) throws -> Int32 {
        let signalFD = try Signals.makeFD()
        defer { close(signalFD) }
        try client.send(request)
        let out = LineWriter(fd: 1)
        while true {
            switch client.nextLine(stopFD: signalFD) {
            case .interrupted:
                return ExitCode.success
            case .closed:
                // No `end` line: the daemon was killed, or went away some other way.
                Console.error("fwtrace: the fwtrace daemon at \(client.path) closed the connection before the session ended (it stopped or was killed): trace again once it is back (systemctl start fwtrace), or as root with --standalone\n")
                return ExitCode.daemonStopped
            case .line(let line):
                guard let fields = DaemonClient.fields(of: line), let type = fields["type"] as? String else { continue }
                switch type {
                case "accepted":
                    continue
                case "error" where fields["schema"] == nil:
                    Console.error("fwtrace: \(fields["message"] as? String ?? "the daemon refused the request")\n")
                    return DaemonClient.exitCode(fields["exit"])
                case "end":
                    let code = DaemonClient.exitCode(fields["exit"])
                    if code != 0, let message = fields["message"] as? String { Console.error("fwtrace: \(message)\n") }
                    return code
                case "notice":
                    Console.error("fwtrace: \(fields["message"] as? String ?? "")\n")
                case "view":
                    out.write((fields["text"] as? String ?? "") + "\n")
                default:
                    if type == "error" { Console.error("fwtrace: \(fields["message"] as? String ?? "")\n") }
                    if json { out.write(line); continue }
                    if type == "session", fields["event"] as? String == "started" {
                        Console.error("fwtrace: tracing \(fields["filter"] as? String ?? "") through the fwtrace daemon (session \(fields["session"] as? String ?? "")); Ctrl-C to stop\n")
                    } else if type == "loss" {
                        Console.error("fwtrace: LOST \(fields["count"] as? Int ?? 0) (\(fields["reason"] as? String ?? "")): \(fields["detail"] as? String ?? "")\n")
                    }
                }
            }
        }
    }
}

/// Writes whole lines to a descriptor; a closed pipe ends fwtrace quietly (like `head`).
final class LineWriter: Sendable {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }

    func write(_ line: String) {
        var text = line
        if !text.hasSuffix("\n") { text += "\n" }
        writeAll(fd, Array(text.utf8))
    }
}

/// `follow`'s output: lines gathered in a buffer and written when the session goes back to wait
/// for the kernel (or the buffer passes 64 KiB), one write(2) for a whole batch of paths instead
/// of one per path: on a busy trace, the write per path cost about 8 % of fwtrace's CPU.
final class BatchedOutput: @unchecked Sendable {
    let fd: Int32
    /// One writer for every record: records are encoded into it back to back, one line each.
    private var writer = JSONWriter(capacity: 1 << 17)
    init(fd: Int32) { self.fd = fd }

    func append(_ line: String) {
        writer.appendRaw(line)
        if !line.hasSuffix("\n") { writer.endLine() }
        if writer.byteCount >= 1 << 16 { flush() }
    }

    /// The constant members of path records, encoded once per context.
    private var prefix: (context: RecordContext, encoded: PathRecordPrefix)?

    /// A path record encoded straight into the batch, with no String or buffer of its own.
    func appendPath(_ path: PacketPath, context: RecordContext) {
        if prefix == nil || prefix!.context != context { prefix = (context, PathRecordPrefix(context)) }
        RecordEncoder.path(path, prefix: prefix!.encoded, into: &writer)
        writer.endLine()
        if writer.byteCount >= 1 << 16 { flush() }
    }

    func flush() {
        guard writer.byteCount > 0 else { return }
        writer.withBytes { _ = writeAll(fd, UnsafeRawBufferPointer($0)) }
        writer.reset()
    }
}
