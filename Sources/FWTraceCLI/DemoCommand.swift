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
        The lab is the classic question "I opened port 8080 with iptables -A and nothing connects":
        a server whose INPUT chain ends with a REJECT, and the 8080 ACCEPT appended after it. fwtrace
        follows a connection to 8080 (rejected by INPUT rule 7) and one to 80 (accepted by rule 5).
        Everything lives in two namespaces (fwt-demo-cli, fwt-demo-srv) deleted at the end; the
        host's own firewall is not touched. Needs root.
        """)

    @Option(help: "Prefix of the lab's namespace names.")
    var prefix = "fwt-demo"

    func run() throws {
        try Privileges.requireNetAdmin(command: "demo")
        for tool in ["ip", "iptables-nft"] where ProcessRunner.find(tool) == nil {
            throw UserFacingError("the demo needs `\(tool)`: apt-get install iproute2 iptables", exitCode: ExitCode.unavailable)
        }
        let lab = Lab(prefix: prefix)
        let signalFD = try Signals.makeFD()
        defer { close(signalFD) }
        var listener: RunningProcess?
        defer {
            listener?.signal(SIGTERM)
            listener?.wait(timeout: 5)
            lab.destroy()
            print("\nLab removed: namespaces \(lab.client) and \(lab.server) deleted, nothing left installed.")
        }
        let me = Self.executablePath()

        print("Building the lab: \(lab.client) (\(Lab.clientAddress)) ⇄ \(lab.server) (\(Lab.serverAddress)) over a veth pair.")
        try lab.create()
        try lab.installClassicFirewall()
        let rules = try ProcessRunner.run(["ip", "netns", "exec", lab.server, "iptables-nft", "-L", "INPUT", "-n", "--line-numbers"])
        print("\nThe server's INPUT chain (iptables -L INPUT -n --line-numbers):\n\(rules.stdout)")
        print("Someone opened 8080 with `iptables -A INPUT -p tcp --dport 8080 -j ACCEPT`: rule 8, after the REJECT.")

        listener = try RunningProcess([me, "lab", "listen", "--netns", lab.server, "--port", "80", "--port", "8080"])
        guard listener?.readLine(timeout: 5)?.hasPrefix("listening") == true else {
            throw UserFacingError("the lab listener did not start", exitCode: ExitCode.failure)
        }

        for (port, story) in [(8080, "Connecting to 8080, which \"is open\":"), (80, "Connecting to 80, for comparison:")] {
            if Signals.read(signalFD) != nil { throw ExitStatus(code: 130) }
            print("\n\(story)  fwtrace follow --netns \(lab.server) --dport \(port) --count 1")
            let follow = try RunningProcess([me, "follow", "--netns", lab.server, "--dport", String(port),
                                             "--count", "1", "--timeout", "10s", "--format", "text"], mergeStderr: true)
            guard let first = follow.readLine(timeout: 10), first.hasPrefix("fwtrace: tracing") else {
                follow.wait(timeout: 5)
                throw UserFacingError("fwtrace follow did not start in the lab", exitCode: ExitCode.failure)
            }
            let outcome = LabClient.connectIn(namespace: lab.client, to: Lab.serverAddress, port: UInt16(port), me: me)
            var shown = false
            while let line = follow.readLine(timeout: 10) {
                print(line)
                shown = true
            }
            follow.wait(timeout: 5)
            if !shown { print("  (no path arrived)") }
            print("  client: \(outcome)")
        }
        print("""

        Reading it: the SYN to 8080 met INPUT rule 7, the REJECT, before it could reach rule 8, the
        ACCEPT appended with -A. The fix is to put the ACCEPT before the REJECT:
          iptables -I INPUT 7 -p tcp --dport 8080 -j ACCEPT
        """)
    }

    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(cString: buffer) : CommandLine.arguments[0]
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
