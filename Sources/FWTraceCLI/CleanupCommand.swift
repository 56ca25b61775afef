import ArgumentParser
import FWTraceKernel

/// Repairs what an fwtrace that did not exit cleanly left in a namespace. `follow` does the same
/// at start; this is for an admin who wants it now.
struct CleanupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Remove what a crashed fwtrace left behind (legacy TRACE rules, logger binding).",
        discussion: """
        nft trace tables need no cleanup: they carry `flags owner`, and the kernel deletes them with the process. The legacy backend's TRACE rules and nf_log binding outlive a `kill -9`; this removes the TRACE rules tagged by fwtrace sessions whose process is gone (never any other rule) and restores the logger binding and nf_conntrack_log_invalid they replaced.

        \(ExitCodesHelp.section([
            (ExitCode.success, "cleaned, or nothing to clean"),
            (ExitCode.failure, "runtime failure"),
            (ExitCode.usage, "invalid arguments"),
            (ExitCode.noPrivilege, "not enough privileges (needs root / CAP_NET_ADMIN)"),
            (ExitCode.unavailable, "network namespace not found"),
        ]))
        """)

    @Option(help: ArgumentHelp("The network namespace to clean: an `ip netns` name, a path, or a PID.", valueName: "name|path|pid"))
    var netns: String?

    func run() throws {
        try Privileges.requireNetAdmin(command: "cleanup")
        if let netns { try NetworkNamespace.resolve(netns).enter() }
        let removed = LegacyInstaller.sweepOrphans() + LegacyBindingState.recoverOrphan()
        if removed.isEmpty {
            Console.print("nothing to clean up: no fwtrace rule or binding left by a dead session")
        } else {
            for line in removed { Console.print("cleaned: \(line)") }
        }
    }
}
