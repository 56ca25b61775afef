import ArgumentParser
import FWTraceKernel
import Glibc

public struct FWTraceCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fwtrace",
        abstract: "Show, live, the path each packet takes through the Linux firewall.",
        discussion: """
        fwtrace installs temporary, rate-limited trace rules for exactly the traffic you name,
        receives the kernel's trace events, and prints each packet's path through tables, chains
        and rules, with the verdict and the rule that decided it. Nothing stays installed when it
        exits, whatever the reason.

        EXAMPLES:
          sudo fwtrace follow --dport 8080             why does port 8080 not answer?
          sudo fwtrace follow -p udp --dport 53 --count 5 --format json
          sudo fwtrace follow --netns web1 -s 203.0.113.7 --timeout 30s
          sudo fwtrace demo                             a throwaway lab, traced

        EXIT CODES:
          0  done (count reached, timeout with matches, or interrupted)
          1  runtime failure
          2  invalid arguments (a malformed filter, an unknown option)
          3  --timeout passed and no packet matched the filter
          4  not enough privileges (needs root / CAP_NET_ADMIN)
          5  backend unavailable (no nf_tables, libnftables missing, namespace not found)
        """,
        version: fwtraceVersion,
        subcommands: [FollowCommand.self, ExplainCommand.self, DaemonCommand.self, StatusCommand.self, DemoCommand.self, CleanupCommand.self, LabCommand.self]
    )

    public init() {}

    /// Parses, runs and exits with fwtrace's exit codes (ArgumentParser's usage code 64 becomes 2).
    public static func entry() -> Never {
        Signals.blockForProcess()
        do {
            var command = try parseAsRoot()
            try command.run()
            Glibc.exit(ExitCode.success)
        } catch let error as UserFacingError {
            Console.error("fwtrace: \(error.message)\n")
            Glibc.exit(error.exitCode)
        } catch let error as ExitStatus {
            Glibc.exit(error.code)
        } catch {
            let code = exitCode(for: error).rawValue
            if code == 0 {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            Console.error(fullMessage(for: error) + "\n")
            Glibc.exit(code == 64 ? ExitCode.usage : code)
        }
    }
}

/// Thrown to exit with a code after the command has printed what it had to say.
struct ExitStatus: Error { let code: Int32 }
