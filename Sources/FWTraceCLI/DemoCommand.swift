import ArgumentParser
import FWTraceCore
import FWTraceKernel
import Foundation
import Glibc

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Build a throwaway lab in network namespaces, trace real packets through it, remove it.",
        discussion: """
        The lab is the classic question "I opened port 8080 with iptables -A and nothing connects": a server whose INPUT chain ends with a REJECT, and the 8080 ACCEPT appended after it. fwtrace follows a connection to 8080 (rejected by INPUT rule 7, with the hint that rule 8 is shadowed), applies the fix the hint gives, follows it again (accepted), and then shows a port-forward to a container-like namespace, where the INPUT rule the admin added never applies because the packet is forwarded.

        Part 5 is a firewall a tool manages: the real ufw (`ufw deny 8080/tcp`) on a host whose podman container publishes port 8080. The published port is forwarded, so ufw's INPUT rule never applies; ufw's FORWARD policy drops it, until `ufw route allow` opens it. It runs ufw and podman through the harnesses in fwtrace's source tree (Tests/tools/ufw-netns.sh, podman-netns.sh), with private configuration and storage: run it from a checkout (sudo make demo; sudo make deps installs ufw and podman), or leave it out with --skip-managed.

        Everything lives in namespaces named <prefix>-cli, -srv, -app and -ufw, deleted at the end, also on Ctrl-C; the host's firewall is not touched. Needs root; takes a few seconds (part 5 some more).

        \(ExitCodesHelp.section([
            (ExitCode.success, "the demo ran; the lab is removed"),
            (ExitCode.failure, "a step of the demo failed (the lab is removed all the same)"),
            (ExitCode.usage, "invalid arguments"),
            (ExitCode.noPrivilege, "not enough privileges (needs root)"),
            (ExitCode.unavailable, "ip or iptables-nft missing (apt-get install iproute2 iptables); for part 5 ufw, podman or the source tree's harnesses (sudo make deps, or --skip-managed)"),
        ]))
        """)

    @Option(help: "Prefix of the lab's namespace names.")
    var prefix = "fwt-demo"
    @Flag(help: "Leave out part 5 (ufw and a podman container), which needs ufw, podman and fwtrace's source tree.")
    var skipManaged = false

    func run() throws {
        try Self.checkPrerequisites()
        let me = Self.executablePath()
        let lab = Lab(prefix: prefix)
        let managed = try skipManaged ? nil : ManagedLab(lab: lab, harnesses: ManagedLab.checkPrerequisites(executable: me))
        let signalFD = try Signals.makeFD()
        defer { close(signalFD) }
        var listener: RunningProcess?
        defer {
            listener?.signal(SIGTERM)
            listener?.wait(timeout: 5)
            managed?.destroy()
            lab.destroy()
            let names = [lab.client, lab.server, lab.app] + (managed.map { [$0.namespace] } ?? [])
            Console.print("\nLab removed: namespaces \(names.joined(separator: ", ")) deleted\(managed == nil ? "" : ", ufw and podman stopped, their private configuration and storage removed"), nothing left installed.")
        }
        let color = isatty(1) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil

        try buildClassicLab(lab)
        // Assigned before the check, so that the deferred cleanup stops a listener that never said so.
        listener = try RunningProcess([me, "lab", "listen", "--netns", lab.server, "--port", "80", "--port", "8080"])
        guard listener?.readLine(timeout: 5)?.hasPrefix("listening") == true else {
            throw UserFacingError("the lab listener did not start", exitCode: ExitCode.failure)
        }

        let tracer = LabTracer(lab: lab, me: me, color: color, signalFD: signalFD)
        try tracer.trace(8080, "1. Connecting to 8080, which \"is open\":")
        try tracer.trace(80, "2. Connecting to 80, for comparison:")
        try applyTheFix(lab, tracer: tracer)
        try showPortForward(lab, tracer: tracer)
        try managed?.show(tracer: tracer)
    }

    /// Root, and the two tools the lab is built with.
    private static func checkPrerequisites() throws {
        try Privileges.requireNetAdmin(command: "demo")
        for tool in ["ip", "iptables-nft"] where ProcessRunner.find(tool) == nil {
            throw UserFacingError("the demo needs `\(tool)`: apt-get install iproute2 iptables", exitCode: ExitCode.unavailable)
        }
    }

    /// The namespaces, and the server's firewall with the ACCEPT appended after the REJECT.
    private func buildClassicLab(_ lab: Lab) throws {
        Console.print("Building the lab: \(lab.client) (\(Lab.clientAddress)) ⇄ \(lab.server) (\(Lab.serverAddress)) over a veth pair.")
        try lab.create()
        try lab.installClassicFirewall()
        Console.print("\nThe server's INPUT chain (iptables -L INPUT -n --line-numbers):\n\(try listInput(lab))")
        Console.print("Someone opened 8080 with `iptables -A INPUT -p tcp --dport 8080 -j ACCEPT`: rule 8, after the REJECT.")
    }

    /// Step 3: the ACCEPT moved before the REJECT, and 8080 followed again.
    private func applyTheFix(_ lab: Lab, tracer: LabTracer) throws {
        Console.print("\n3. Applying the fix the hint gives: the ACCEPT goes before the REJECT.")
        for arguments in [["-I", "INPUT", "7", "-p", "tcp", "-m", "tcp", "--dport", "8080", "-j", "ACCEPT"], ["-D", "INPUT", "9"]] {
            Console.print("$ iptables \(arguments.joined(separator: " "))")
            try lab.inServer(["iptables-nft"] + arguments)
        }
        try tracer.trace(8080, "   Connecting to 8080 again:")
    }

    /// Step 4: a DNAT to the app namespace, where the INPUT rule the admin added never applies.
    private func showPortForward(_ lab: Lab, tracer: LabTracer) throws {
        Console.print("\n4. A port-forward to a container: 8081 on the server is DNATed to \(lab.app) (\(Lab.appAddress):80),")
        Console.print("   and the admin opened it with `iptables -I INPUT 1 -p tcp --dport 8081 -j ACCEPT`.")
        try lab.createAppBehindServer()
        try tracer.trace(8081, "   Connecting to 8081:")
        Console.print("""

        Reading it: the DNAT turned the packet into one for \(Lab.appAddress), so the host routed it: it went
        through FORWARD, never INPUT, and FORWARD rejects everything. The rule belongs in FORWARD:
          iptables -I FORWARD 1 -p tcp -d \(Lab.appAddress) --dport 80 -j ACCEPT
        """)
    }

    func listInput(_ lab: Lab) throws -> String {
        try ProcessRunner.run(["ip", "netns", "exec", lab.server, "iptables-nft", "-L", "INPUT", "-n", "--line-numbers"]).stdout
    }

    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(cString: buffer) : CommandLine.arguments[0]
    }
}

/// One step of the demo: `fwtrace follow` started in the server's namespace (or another), a
/// connection made from the client's, and what follow printed shown with the client's outcome.
struct LabTracer {
    let lab: Lab
    let me: String
    let color: Bool
    /// Checked before each step, so that Ctrl-C ends the demo between steps (exit 130).
    let signalFD: Int32

    /// Ctrl-C (or SIGTERM) since the last check ends the demo here (exit 130; the labs are removed).
    func checkSignal() throws {
        if Signals.read(signalFD) != nil { throw ExitStatus(code: 130) }
    }

    func trace(_ port: Int, _ story: String, netns: String? = nil, to address: String = Lab.serverAddress) throws {
        try checkSignal()
        let netns = netns ?? lab.server
        Console.print("\n\(story)\n$ fwtrace follow --netns \(netns) --dport \(port) --count 1")
        let follow = try RunningProcess([me, "follow", "--netns", netns, "--dport", String(port), "--count", "1",
                                         "--timeout", "10s", "--format", "text", "--color", color ? "always" : "never"], mergeStderr: true)
        guard let first = follow.readLine(timeout: 10), first.hasPrefix("fwtrace: tracing") else {
            follow.wait(timeout: 5)
            throw UserFacingError("fwtrace follow did not start in the lab", exitCode: ExitCode.failure)
        }
        let outcome = LabClient.connectIn(namespace: lab.client, to: address, port: UInt16(port), me: me)
        var shown = false
        while let line = follow.readLine(timeout: 10) { Console.print(line); shown = true }
        follow.wait(timeout: 5)
        if !shown { Console.print("  (no path arrived)") }
        Console.print("  client: \(outcome)")
    }
}

extension LabClient {
    /// Runs the client in the other namespace through `fwtrace lab connect` (namespaces are per
    /// thread, and this process stays where it is).
    static func connectIn(namespace: String, to host: String, port: UInt16, me: String) -> String {
        guard let output = try? ProcessRunner.run([me, "lab", "connect", "--netns", namespace, "--to", host, "--port", String(port)]) else {
            return "could not run the lab client"
        }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
