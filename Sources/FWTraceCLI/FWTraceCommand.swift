import ArgumentParser
import FWTraceKernel
import Foundation
import Glibc

public struct FWTraceCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fwtrace",
        abstract: "Show, live, the path each packet takes through the Linux firewall.",
        discussion: """
        fwtrace installs temporary, rate-limited trace rules for exactly the traffic you name, receives the kernel's trace events, and prints each packet's path through tables, chains and rules, with the verdict and the rule that decided it. Nothing stays installed when it exits, whatever the reason.

        EXAMPLES:
          sudo fwtrace follow --dport 8080       why does port 8080 not answer?
          sudo fwtrace follow -p udp --dport 53 --count 5 --format json
          sudo fwtrace follow --netns web1 -s 203.0.113.7 --timeout 30s
          sudo fwtrace demo                      a throwaway lab, traced

        \(ExitCodesHelp.section(FollowCommand.exitCodes))
        """,
        version: fwtraceVersion,
        subcommands: [FollowCommand.self, ExplainCommand.self, ReplayCommand.self, DaemonCommand.self, StatusCommand.self, DemoCommand.self, CleanupCommand.self, LabCommand.self]
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
            if code == 64 {
                Console.error("fwtrace: \(UsageErrors.line(for: message(for: error), arguments: Array(CommandLine.arguments.dropFirst())))\n")
                Glibc.exit(ExitCode.usage)
            }
            Console.error(fullMessage(for: error) + "\n")
            Glibc.exit(code)
        }
    }
}

/// ArgumentParser's usage errors as one line (its message, then where the options are listed),
/// and a better suggestion for a mistyped option: ArgumentParser's edit distance counts a swap
/// of two letters as two edits, so `--dprot` was as near `--proto` as `--dport`, and the first
/// declared won.
enum UsageErrors {
    static func line(for message: String, arguments: [String]) -> String {
        let command = subcommand(for: arguments)
        let name = (["fwtrace"] + command.names).joined(separator: " ")
        var text = message.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "; ")
        if let range = text.range(of: #"^Unknown option '(--[^']+)'"#, options: .regularExpression) {
            let given = String(text[range].dropFirst("Unknown option '".count).dropLast())
            text = "unknown option '\(given)'"
            if let suggestion = suggestion(for: given, among: longOptions(of: command.type)) { text += ": did you mean '\(suggestion)'?" }
            return text + " (`\(name) --help` lists the options)"
        }
        if let first = text.first { text = first.lowercased() + text.dropFirst() }
        return text + " (see `\(name) --help`)"
    }

    /// The subcommand the arguments name (`follow`, `lab connect`), or the root command.
    static func subcommand(for arguments: [String]) -> (type: ParsableCommand.Type, names: [String]) {
        var type: ParsableCommand.Type = FWTraceCommand.self
        var names: [String] = []
        for argument in arguments {
            guard let next = type.configuration.subcommands.first(where: { commandName(of: $0) == argument }) else { break }
            type = next
            names.append(argument)
        }
        return (type, names)
    }

    static func commandName(of type: ParsableCommand.Type) -> String {
        type.configuration.commandName ?? String(describing: type).lowercased()
    }

    /// The long options a command's help lists (hidden ones are not suggested).
    static func longOptions(of type: ParsableCommand.Type) -> [String] {
        var options: [String] = []
        for line in type.helpMessage(columns: 10_000).split(separator: "\n") where line.hasPrefix("  -") {
            for word in line.split(separator: " ") {
                let name = word.trimmingCharacters(in: CharacterSet(charactersIn: ","))
                if name.hasPrefix("--"), name.count > 2, !options.contains(name) { options.append(name) }
            }
        }
        return options
    }

    /// The nearest option by optimal string alignment distance (a swap of neighbours is one
    /// edit), if it is near enough to be what was meant.
    static func suggestion(for given: String, among options: [String]) -> String? {
        let scored = options.map { ($0, distance(given, $0)) }.filter { $0.1 <= max(1, min(3, given.count / 3)) }
        return scored.min { $0.1 < $1.1 }?.0
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}

/// Thrown to exit with a code after the command has printed what it had to say.
struct ExitStatus: Error { let code: Int32 }
