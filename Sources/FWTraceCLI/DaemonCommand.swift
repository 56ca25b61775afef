import ArgumentParser
import FWTraceDaemon
import FWTraceKernel

struct DaemonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run as a service: configured watches streamed to sinks, and follow for the fwtrace group.",
        discussion: """
        Reads the configuration (TOML; a documented example is config/fwtrace.toml), starts every [[watch]] (a trace with a filter, a namespace and a rate limit) and streams its records to the [[sink]]s it names: stdout (under systemd, the journal), a file (reopened on SIGHUP for logrotate), journald's native protocol (structured fields: journalctl FWTRACE_VERDICT=drop), or a collector's socket (unix or TCP on loopback). A slow sink drops its oldest records and says so in a `loss` record; it never slows tracing.

        The control socket (default /run/fwtrace/fwtrace.sock, mode 0660, group fwtrace) lets root and members of the group run `fwtrace follow` without privileges of their own, and `fwtrace status` list watches and sessions. Protocol: docs/control-protocol.md.

        With a [metrics] table it serves Prometheus metrics on loopback TCP or a unix socket (GET /metrics): paths by watch, verdict and deciding rule, events, losses by reason and sink, sessions, trace rules, sink queues. Metric names and PromQL: docs/metrics.md.

        SIGHUP reloads the configuration: added, removed and changed watches only; a broken file is refused and the running configuration stays. SIGTERM/SIGINT stop every session (all rules removed, logger bindings restored) within stop_timeout; each client's follow is told and exits 6. Under systemd (Type=notify) it reports readiness, reloads and watchdog keep-alives through $NOTIFY_SOCKET.

        EXAMPLES:
          sudo fwtrace daemon --config /etc/fwtrace/fwtrace.toml
          sudo fwtrace daemon --check --config ./fwtrace.toml    validate, exit
          sudo fwtrace daemon --log-level warning                warnings, errors

        --check reads the file as the start does, then checks what the start needs: the socket_group exists, each file sink's directory exists and is writable, each watch's netns exists. Each problem is one line with the file, the line and the fix (exit 2).

        \(ExitCodesHelp.section([
            (ExitCode.success, "stopped cleanly (--check: the configuration is valid)"),
            (ExitCode.failure, "failure (a session would not stop within stop_timeout)"),
            (ExitCode.usage, "bad configuration, or what its start lacks (file:line on stderr)"),
            (ExitCode.noPrivilege, "not enough privileges (needs root / CAP_NET_ADMIN)"),
            (ExitCode.unavailable, "socket taken by another daemon, group missing"),
        ]))
        """)

    @Option(help: ArgumentHelp("The configuration file.", valueName: "path"))
    var config: String = "/etc/fwtrace/fwtrace.toml"
    @Flag(help: "Only validate the configuration and what its start needs (the socket's group, file sinks' directories, watches' namespaces), then exit.")
    var check = false
    @Option(help: ArgumentHelp("Log only messages this urgent or more: debug, info, notice, warning or error (default: log_level in [daemon], else info).", valueName: "level"))
    var logLevel: String?

    func run() throws {
        var level: DaemonConfig.LogLevel?
        if let logLevel {
            guard let l = DaemonConfig.LogLevel(rawValue: logLevel) else {
                throw UserFacingError("--log-level '\(logLevel)' is not a log level: give debug, info, notice, warning or error", exitCode: ExitCode.usage)
            }
            level = l
        }
        if check {
            let parsed: DaemonConfig
            do { parsed = try DaemonConfig.load(path: config) } catch let error as ConfigError {
                throw UserFacingError("\(error)", exitCode: ExitCode.usage)
            }
            // Every problem on its own line; the last one through the usual error path.
            let problems = parsed.startProblems(file: config)
            if let last = problems.last {
                for problem in problems.dropLast() { Console.error("fwtrace: \(problem)\n") }
                throw UserFacingError("\(last)", exitCode: ExitCode.usage)
            }
            Console.print("\(config): OK (\(parsed.watches.count) watches, \(parsed.sinks.count) sinks)")
            return
        }
        let daemon = try Daemon(configPath: config, logLevel: level, version: fwtraceVersion)
        // Not exit(3): see CurrentProcess.exitNow (the daemon writes nothing through stdio).
        CurrentProcess.exitNow(try daemon.run())
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's watches, client sessions (who, filter, since, paths, losses) and installed rules.",
        discussion: """
        Asks the fwtrace daemon on its control socket; needs root or membership of its group. Each watch lists the sinks its records really go to (every sink when its config names none).

        \(ExitCodesHelp.section([
            (ExitCode.success, "shown"),
            (ExitCode.failure, "the daemon closed the connection without an answer"),
            (ExitCode.usage, "invalid arguments"),
            (ExitCode.noPrivilege, "not allowed on the socket (not root, not in its group)"),
            (ExitCode.unavailable, "no daemon answers on the socket"),
        ]))
        """)

    @Option(help: ArgumentHelp("The daemon's control socket (default $FWTRACE_SOCKET, else /run/fwtrace/fwtrace.sock).", valueName: "path"))
    var socket: String?
    @Option(help: ArgumentHelp("Output: text or json.", valueName: "format"))
    var format: String = "text"

    func run() throws {
        guard format == "text" || format == "json" else { throw ValidationError("--format is text or json") }
        let path = DaemonClient.socketPath(socket)
        guard let client = try DaemonClient.connect(path: path) else {
            throw UserFacingError("no fwtrace daemon answers on \(path): start it (systemctl start fwtrace) or name its socket with --socket", exitCode: ExitCode.unavailable)
        }
        try client.send(ControlRequest(operation: .status))
        guard case .line(let line) = client.nextLine(stopFD: nil), let fields = DaemonClient.fields(of: line) else {
            throw UserFacingError("the daemon closed the connection without an answer", exitCode: ExitCode.failure)
        }
        if fields["type"] as? String == "error" {
            throw UserFacingError(fields["message"] as? String ?? "the daemon refused", exitCode: DaemonClient.exitCode(fields["exit"]))
        }
        if format == "json" { Console.print(line); return }
        Console.print(StatusView.render(fields))
    }
}

/// `fwtrace status` as text.
enum StatusView {
    static func render(_ s: [String: Any]) -> String {
        var out: [String] = []
        out.append("fwtrace daemon pid \(s["pid"] ?? "?") since \(s["since"] ?? "?"), config \(s["config"] ?? "?")")
        out.append("trace rate in use \(s["trace_rate_in_use"] ?? 0)/s of \(s["max_trace_rate"] ?? "?")/s, sessions max \(s["max_sessions"] ?? "?")")
        func session(_ e: [String: Any], indent: String) {
            out.append("\(indent)filter: \(e["filter"] ?? "")  netns: \(e["netns"] ?? "(daemon's)")  limit: \(e["limit"] ?? "")  backend: \(e["backend"] ?? "?")")
            out.append("\(indent)since \(e["since"] ?? "?"): \(e["paths"] ?? 0) paths, \(e["lost"] ?? 0) lost")
            if let error = e["error"] { out.append("\(indent)error: \(error)") }
            for rule in e["rules"] as? [String] ?? [] { out.append("\(indent)rule: \(rule)") }
        }
        let watches = s["watches"] as? [[String: Any]] ?? []
        out.append("")
        out.append("WATCHES (\(watches.count))")
        for w in watches {
            out.append("  \(w["name"] ?? "?") [\(w["state"] ?? "?")] session \(w["session"] ?? "-")")
            session(w, indent: "    ")
            let used = w["sinks"] as? [String] ?? []
            out.append("    sinks: \(used.isEmpty ? "(none running)" : used.joined(separator: ", "))")
        }
        let sessions = s["sessions"] as? [[String: Any]] ?? []
        out.append("")
        out.append("CLIENT SESSIONS (\(sessions.count))")
        for c in sessions {
            out.append("  \(c["session"] ?? "?") by \(c["user"] ?? "?") (uid \(c["uid"] ?? "?"), pid \(c["pid"] ?? "?")) [\(c["state"] ?? "?")]")
            session(c, indent: "    ")
        }
        let sinks = s["sinks"] as? [[String: Any]] ?? []
        out.append("")
        out.append("SINKS (\(sinks.count))")
        for k in sinks { out.append("  \(k["name"] ?? "?") \(k["type"] ?? "?") \(k["target"] ?? "")  lost \(k["lost"] ?? 0)") }
        return out.joined(separator: "\n")
    }
}
