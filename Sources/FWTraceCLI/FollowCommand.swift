import ArgumentParser
import FWTraceCore
import FWTraceKernel
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

    func makeFilter() throws -> TraceFilter {
        var filter = TraceFilter()
        if ipv4Only && ipv6Only { throw FilterError("-4 and -6 exclude each other; give neither to trace both", example: "-4 --dport 80") }
        if ipv4Only { filter.families = [.ip] }
        if ipv6Only { filter.families = [.ip6] }
        if let proto { filter.proto = try TraceFilter.parseProto(proto) }
        if let sport { filter.sport = try TraceFilter.parsePorts(sport, option: "--sport") }
        if let dport { filter.dport = try TraceFilter.parsePorts(dport, option: "--dport") }
        if let src { filter.src = try TraceFilter.parsePrefix(src, option: "--src") }
        if let dst { filter.dst = try TraceFilter.parsePrefix(dst, option: "--dst") }
        if let inInterface { filter.inInterface = try TraceFilter.parseInterface(inInterface, option: "--in-interface") }
        if let outInterface { filter.outInterface = try TraceFilter.parseInterface(outInterface, option: "--out-interface") }
        try filter.validate()
        return filter
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case auto, json, text }
enum Backend: String, ExpressibleByArgument, CaseIterable { case auto, nft, legacy }
enum ColorChoice: String, ExpressibleByArgument, CaseIterable { case auto, always, never }

struct FollowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Trace matching packets live and print each one's path through the firewall.",
        discussion: """
        Installs a table `inet fwtrace_<session>` (flags owner: the kernel deletes it when fwtrace
        exits, even after kill -9) with base chains at prerouting and output, priority -350, whose
        one rule sets the trace bit on packets that match the filter, at most --limit per second.
        Every later chain of every table (iptables-nft's included) then reports the packet.

        On a terminal the output is a readable view; piped, or with --format json, one JSON object
        per line (schema fwtrace/1, see docs/schema/fwtrace-1.schema.json): a `session` record,
        then one `path` record per packet, `loss` records if the kernel dropped events, and a
        closing `session` record.

        EXAMPLES:
          sudo fwtrace follow --dport 8080
          sudo fwtrace follow -p tcp -s 10.0.0.0/8 --dport 80,443 --count 10
          sudo fwtrace follow -6 -p icmpv6 --timeout 5s --format json
          sudo fwtrace follow --netns $(pidof -s nginx) --dport 80

        Exit codes: 0 done, 1 failure, 2 bad arguments, 3 nothing matched before --timeout,
        4 not privileged, 5 backend or namespace unavailable.
        """
    )

    @OptionGroup(title: "Filter") var filterOptions: FilterOptions

    @Option(help: ArgumentHelp("Exit after N packet paths.", valueName: "N"))
    var count: Int?
    @Option(help: ArgumentHelp("Exit after this long: 500ms, 10s, 2m or seconds.", valueName: "duration"))
    var timeout: String?
    @Option(help: ArgumentHelp("Output format: auto (text on a terminal, json otherwise), json, text.", valueName: "format"))
    var format: OutputFormat = .auto
    @Option(help: ArgumentHelp("Trace in another network namespace: an `ip netns` name, a /proc/PID/ns/net path, or a PID.", valueName: "name|path|pid"))
    var netns: String?
    @Option(help: ArgumentHelp("Firewall backend: auto, nft (nftables and iptables-nft), legacy (iptables-legacy).", valueName: "backend"))
    var backend: Backend = .auto
    @Option(help: ArgumentHelp("Trace at most this many packets per second (kernel-side), or N/minute.", valueName: "rate"))
    var limit: String = "100"
    @Flag(help: "Trace every matching packet (no rate limit): careful on a busy host.")
    var noLimit = false
    @Option(help: ArgumentHelp("Emit a path this long after its last event when no verdict ended it.", valueName: "duration"))
    var quietPeriod: String = "100ms"
    @Option(help: ArgumentHelp("Also write every raw trace message received to FILE (hex, for bug reports and replay).", valueName: "file"))
    var capture: String?
    @Option(help: ArgumentHelp("Colour in the text view: auto (on a terminal, unless NO_COLOR is set), always, never.", valueName: "when"))
    var color: ColorChoice = .auto
    @Flag(help: "Legacy backend: have conntrack log invalid packets (nf_conntrack_log_invalid) for the session and show why it called a packet INVALID.")
    var ctInvalid = false
    @Option(help: ArgumentHelp("Netlink receive buffer in bytes (default 16 MiB).", valueName: "bytes", visibility: .hidden))
    var receiveBuffer: Int = 16 << 20

    func validate() throws {
        if let count, count <= 0 { throw ValidationError("--count must be a positive number of paths, for example --count 1") }
    }

    func run() throws {
        let filter: TraceFilter
        let timeoutSeconds: Double?
        let rate: RateLimit?
        let quiet: Double
        do {
            filter = try filterOptions.makeFilter()
            timeoutSeconds = try timeout.map(DurationParser.parse)
            rate = noLimit ? nil : try RateLimit.parse(limit)
            quiet = try DurationParser.parse(quietPeriod)
        } catch let error as FilterError {
            throw UserFacingError(error.description, exitCode: ExitCode.usage)
        }
        try Privileges.requireNetAdmin(command: "follow")
        var namespace: NetworkNamespace?
        if let netns {
            namespace = try NetworkNamespace.resolve(netns)
            try namespace!.enter()
        }

        let chosen: BackendDetection.Choice
        switch backend {
        case .nft: chosen = .nft
        case .legacy: chosen = .legacy
        case .auto: chosen = try BackendDetection.detect()
        }
        let session = SessionID.make()
        let json: Bool = format == .json || (format == .auto && isatty(1) == 0)
        let context = RecordContext(host: SessionID.hostname(), netns: namespace?.displayName,
                                    backend: chosen == .nft ? "nft" : "legacy", session: session)
        let out = LineWriter(fd: 1)
        let view = TextView(color: color == .always || (color == .auto && isatty(1) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil))

        var options = NftTraceSession.Options(session: session, filter: filter, limit: rate)
        options.count = count
        options.timeout = timeoutSeconds
        options.quietPeriod = quiet
        options.capturePath = capture
        options.receiveBuffer = receiveBuffer
        options.conntrackInvalid = ctInvalid
        if ctInvalid && chosen == .nft {
            throw UserFacingError("--ct-invalid needs the legacy backend (conntrack's invalid-packet log reaches fwtrace through nfnetlink_log): add --backend legacy", exitCode: ExitCode.usage)
        }
        var info: RecordEncoder.SessionInfo?
        let handle: (NftTraceSession.Record) -> Void = { record in
            switch record {
            case .started(let i):
                info = i
                if json {
                    out.write(RecordEncoder.sessionStarted(i, time: NftTraceSession.now(), context: context))
                } else {
                    Console.error("fwtrace: tracing \(i.filter) in \(namespace.map { "netns \($0.displayName)" } ?? "this namespace") (\(i.limit ?? "no limit")); Ctrl-C to stop\n")
                }
            case .path(let path):
                out.write(json ? RecordEncoder.path(path, context: context) : view.render(path, netns: namespace?.displayName) + "\n")
            case .loss(let count, let reason, let detail):
                if json {
                    out.write(RecordEncoder.loss(count: count, reason: reason, detail: detail, time: NftTraceSession.now(), context: context))
                } else {
                    Console.error("fwtrace: LOST \(count) events (\(reason)): \(detail ?? "")\n")
                }
            }
        }
        let summary: NftTraceSession.Summary
        switch chosen {
        case .nft:
            summary = try NftTraceSession(options: options).run(emit: handle)
        case .legacy:
            summary = try LegacyTraceSession(options: options).run(emit: handle, notice: { Console.error("fwtrace: \($0)") })
        }
        let watched: [(String, String)] = [
            ("netns", namespace?.displayName ?? "(this namespace)"),
            ("families", filter.families.map(\.rawValue).sorted().joined(separator: ",")),
            ("filter", filter.summary),
            ("hooks", filter.inInterface == nil ? "prerouting,output" : "prerouting"),
            ("backend", context.backend),
        ]
        let noMatch = summary.paths == 0 && summary.reason == .timeout
        let hint = HintEngine.noMatchSeen(filter: filter, namespace: namespace.map { "netns \($0.displayName)" } ?? "this namespace",
                                          seconds: timeout ?? "", hooks: filter.inInterface == nil ? "prerouting and output" : "prerouting")
        if json, let info {
            out.write(RecordEncoder.sessionEnded(info, paths: summary.paths, reason: summary.reason.rawValue,
                                                 time: NftTraceSession.now(), context: context,
                                                 watched: noMatch ? watched : [], hints: noMatch ? [hint] : [],
                                                 events: summary.events, lost: summary.lost))
        }
        if noMatch {
            Console.error("fwtrace: \(hint.message)")
            throw ExitStatus(code: ExitCode.noMatch)
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
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE { return }
                return
            }
            offset += n
        }
    }
}

enum SessionID {
    /// Eight hex digits from the kernel's random source: names the table and tags every record.
    static func make() -> String {
        RecordEncoder.hex8(UInt32.random(in: 0...UInt32.max))
    }

    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(cString: buffer)
    }
}
