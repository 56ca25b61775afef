import ArgumentParser
import FWTraceCore
import FWTraceKernel
import FWTraceNflog
import Foundation
import Glibc

/// `fwtrace replay CAPTURE`: a file written by `follow --capture` through the same pipeline as
/// `follow`, offline, with the rules from files (or without rule text).
struct ReplayCommand: ParsableCommand {
    static let exitCodes: [(Int32, String)] = [
        (ExitCode.success, "replayed (malformed lines and messages are records, skipped)"),
        (ExitCode.failure, "the capture or a ruleset file could not be read"),
        (ExitCode.usage, "invalid arguments (an unknown option, a bad --interface)"),
        (ExitCode.noPrivilege, "a legacy capture, replayed without root"),
    ]

    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Print the paths in a capture written by `follow --capture`, offline, as follow printed them.",
        usage: "fwtrace replay <capture> [--ruleset <file>] [<options>]",
        discussion: """
        Reads the trace messages a `follow --capture FILE` session received (one datagram per line: receive time and hex) and runs them through the pipeline follow uses: decode, assemble into paths, rule text, hints. Either backend's capture is replayed; the messages tell which. Nothing is installed and nothing is read from the kernel: attach the capture and the ruleset files to a bug report, and anyone can see what fwtrace saw. An nft capture needs no root. A legacy capture does: its messages are decoded by libnetfilter_log, whose dispatch reaches only a bound nflog group, so fwtrace binds one in a private, empty network namespace (no namespace's logger or group is touched).

        Rule positions and text come from the files given, as the traced namespace had them (`nft -a list ruleset` text, or its JSON form for hints about native rules; `iptables-save` and `ip6tables-save` output); without them the steps show chains, handles and verdicts but no rule text. Interface indexes become names with --interface (a capture holds only the numbers). Hints that need the live namespace (listening sockets, conntrack) are not given. The text view folds runs of jumps and returns where no rule acted, as follow does (--steps all: every step).

        A line that is not a datagram is reported as an `error` record, a message that cannot be decoded as a `loss` record (reason decode-error), and both are skipped: a damaged capture prints what can be read.

        EXAMPLES:
          fwtrace replay trace.hex
          fwtrace replay trace.hex --ruleset ruleset.nft --iptables-save iptables.txt
          fwtrace replay trace.hex --interface 2=eth0 --format text
          fwtrace replay trace.hex --format text --steps all
          fwtrace replay trace.hex --tool-state ufw-user-rules=user.rules

        \(ExitCodesHelp.section(ReplayCommand.exitCodes))
        """)

    @Argument(help: ArgumentHelp("The capture written by follow --capture.", valueName: "capture"))
    var capture: String
    @Option(help: ArgumentHelp("The nft ruleset: `nft -a list ruleset` text, or `nft -j list ruleset` JSON (may be given twice, once each).", valueName: "file"))
    var ruleset: [String] = []
    @Option(name: .customLong("iptables-save"), help: ArgumentHelp("IPv4 rules as iptables-save (or iptables-legacy-save) printed them.", valueName: "file"))
    var iptablesSave: String?
    @Option(name: .customLong("ip6tables-save"), help: ArgumentHelp("IPv6 rules as ip6tables-save printed them.", valueName: "file"))
    var ip6tablesSave: String?
    @Option(help: ArgumentHelp("An interface name for an index in the traced namespace, e.g. 2=eth0 (repeatable).", valueName: "index=name"))
    var interface: [String] = []
    @Option(name: .customLong("tool-state"), help: ArgumentHelp(
        "A firewall manager's own state, for the owners' names (repeatable): KIND=FILE, KIND one of \(ToolState.kinds.joined(separator: ", ")) (user.rules, `ufw status numbered`, `firewall-cmd --list-all-zones`, `podman ps --format json` / `podman inspect` / `docker inspect`, `virsh net-dumpxml`, /etc/shorewall/zones).",
        valueName: "kind=file"))
    var toolState: [String] = []
    @Option(help: ArgumentHelp("Output format: auto (text on a terminal, json otherwise), json, text.", valueName: "format"))
    var format: OutputFormat = .auto
    @Option(help: StepsChoice.help)
    var steps: StepsChoice = .folded

    func run() throws {
        let names = try interfaceNames()
        let text = try Self.read(capture, what: "the capture")
        let replay = CaptureReplay(text: text)
        let rules = try readRuleset(backend: replay.backend)
        let nflog = replay.backend == .legacy ? try Self.offlineNflog() : nil
        var options = TracePipeline.Options()
        options.interfaceName = { names[$0] }
        let json = format == .json || (format == .auto && isatty(1) == 0)
        let context = RecordContext(host: TraceJob.hostname(), netns: nil, backend: replay.backend.rawValue, session: replay.session)
        let out = BatchedOutput(fd: 1)
        defer { out.flush() }
        let view = TextView(color: isatty(1) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil, steps: steps.detail)
        replay.run(ruleset: rules, options: options, nflog: nflog) { output in
            switch output {
            case .started(let info, let time):
                if json { out.append(RecordEncoder.sessionStarted(info, time: time, context: context)) }
            case .record(.path(let path), _):
                if json { out.appendPath(path, context: context) } else { out.append(view.render(path, netns: nil)) }
            case .record(.loss(let count, let reason, let detail), let time):
                if json {
                    out.append(RecordEncoder.loss(count: count, reason: reason, detail: detail, time: time, context: context))
                } else {
                    Console.error("fwtrace: LOST \(count) events (\(reason)): \(detail ?? "")\n")
                }
            case .record(.started, _):
                break
            case .malformed(let message, let time):
                if json { out.append(RecordEncoder.error(message: message, code: "capture-malformed", time: time, context: context)) } else { Console.error("fwtrace: \(message)\n") }
            case .ended(let info, let paths, let events, let time):
                if json { out.append(RecordEncoder.sessionEnded(info, paths: paths, reason: "capture-end", time: time, context: context, events: events, lost: 0)) }
            }
        }
    }

    /// A legacy capture is decoded by libnetfilter_log, through a group bound in a private
    /// network namespace (NflogHandle.offline): that takes root.
    static func offlineNflog() throws -> NflogHandle {
        do { return try NflogHandle.offline() } catch {
            guard error.errno == EPERM else {
                throw UserFacingError("this is a legacy (nfnetlink_log) capture, and its decoder could not be made: \(error)", exitCode: ExitCode.failure)
            }
            throw UserFacingError("this is a legacy (nfnetlink_log) capture: fwtrace decodes it with libnetfilter_log through an nflog group bound in a private network namespace, which needs root (\(error)): run replay as root (sudo fwtrace replay …)", exitCode: ExitCode.noPrivilege)
        }
    }

    /// `--interface 2=eth0`, each index once.
    func interfaceNames() throws -> [UInt32: String] {
        var names: [UInt32: String] = [:]
        for item in interface {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let index = UInt32(parts[0]), !parts[1].isEmpty, names[index] == nil else {
                throw UserFacingError("invalid --interface '\(item)': give an index and a name, each index once, e.g. --interface 2=eth0", exitCode: ExitCode.usage)
            }
            names[index] = parts[1]
        }
        return names
    }

    func readRuleset(backend: CaptureReplay.Backend) throws -> Ruleset {
        var listing = "", json: NftListing?
        for file in ruleset {
            let text = String(decoding: try Self.read(file, what: "the ruleset"), as: UTF8.self)
            if text.drop(while: { $0.isWhitespace }).hasPrefix("{") {
                do { json = try NftListing(json: text) } catch {
                    throw UserFacingError("\(file) is not an nft JSON ruleset (`nft -j list ruleset`): \(error)", exitCode: ExitCode.failure)
                }
            } else {
                listing += text
            }
        }
        let v4 = try iptablesSave.map { String(decoding: try Self.read($0, what: "the iptables-save output"), as: UTF8.self) } ?? ""
        let v6 = try ip6tablesSave.map { String(decoding: try Self.read($0, what: "the ip6tables-save output"), as: UTF8.self) } ?? ""
        let tools = try readToolState()
        if backend == .legacy { return Ruleset.parse(iptablesSave: v4, ip6tablesSave: v6).withOwners(tools) }
        var saves: [TableFamily: String] = [:]
        if iptablesSave != nil { saves[.ip] = v4 }
        if ip6tablesSave != nil { saves[.ip6] = v6 }
        var ruleset = Ruleset.build(nftListing: listing, iptablesSave: saves)
        if let json { ruleset.addNftJSON([json]) }
        return ruleset.withOwners(tools)
    }

    func readToolState() throws -> ToolState {
        var state = ToolState()
        for spec in toolState {
            guard let eq = spec.firstIndex(of: "="), !spec[spec.index(after: eq)...].isEmpty else {
                throw UserFacingError("--tool-state wants KIND=FILE, not '\(spec)'", exitCode: ExitCode.usage)
            }
            let kind = String(spec[..<eq]), file = String(spec[spec.index(after: eq)...])
            guard ToolState.kinds.contains(kind) else {
                throw UserFacingError("--tool-state: unknown kind '\(kind)' (one of \(ToolState.kinds.joined(separator: ", ")))", exitCode: ExitCode.usage)
            }
            _ = state.add(kind, String(decoding: try Self.read(file, what: "the \(kind) state"), as: UTF8.self))
        }
        return state
    }

    static func read(_ path: String, what: String) throws -> [UInt8] {
        do {
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw UserFacingError("cannot read \(what) \(path): \(error.localizedDescription)", exitCode: ExitCode.failure)
        }
    }
}
