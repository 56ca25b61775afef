import FWTraceCore
import FWTraceKernel
import Foundation
import Glibc

/// The demo's fifth part: a host whose firewall ufw manages, running a podman container that
/// publishes port 8080, in a namespace of its own (`<prefix>-ufw`, 10.97.0.2) behind the client's
/// second veth (10.97.0.1). The real ufw and podman run through the harnesses of the source tree
/// (Tests/tools/ufw-netns.sh, podman-netns.sh: private /etc/ufw, containers.conf and storage, never
/// the host's), whose `stop` removes what their `start` made; then the namespace is deleted.
struct ManagedLab {
    let lab: Lab
    let namespace: String
    /// The harnesses' state directories (fixed, so that a demo run after an interrupted one stops
    /// what that one left).
    let stateRoot: String
    let ufwHarness: String
    let podmanHarness: String
    static let hostAddress = "10.97.0.2"
    static let clientAddress = "10.97.0.1"

    /// What part 5 needs, with the command that installs it.
    static let tools = ["ufw", "podman", "runc", "/usr/lib/podman/netavark", "nsenter", "unshare"]

    init(lab: Lab, harnesses: String) {
        self.lab = lab
        namespace = lab.server.replacingOccurrences(of: "-srv", with: "-ufw")
        stateRoot = "/var/tmp/fwtrace-demo/\(namespace)"
        ufwHarness = harnesses + "/ufw-netns.sh"
        podmanHarness = harnesses + "/podman-netns.sh"
    }

    /// The folder of the harnesses: Tests/tools of the source tree fwtrace was built in (the
    /// binary is .build/<config>/fwtrace there), else of the current directory.
    static func findHarnesses(executable: String) -> String? {
        var candidates: [URL] = []
        var dir = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir)
            dir = dir.deletingLastPathComponent()
        }
        candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        for root in candidates {
            let tools = root.appendingPathComponent("Tests/tools").path
            if access(tools + "/ufw-netns.sh", X_OK) == 0 && access(tools + "/podman-netns.sh", X_OK) == 0 { return tools }
        }
        return nil
    }

    /// Refuses before anything is built, saying what to install or where to run from.
    static func checkPrerequisites(executable: String) throws -> String {
        let missing = tools.filter { ProcessRunner.find($0) == nil }
        if !missing.isEmpty {
            throw UserFacingError("part 5 of the demo (ufw and a podman container) needs \(missing.joined(separator: ", ")): sudo make deps (it installs ufw, podman, netavark, runc and busybox-static), or run the demo with --skip-managed", exitCode: ExitCode.unavailable)
        }
        guard let harnesses = findHarnesses(executable: executable) else {
            throw UserFacingError("part 5 of the demo runs ufw and podman through the harnesses of fwtrace's source tree (Tests/tools/ufw-netns.sh, podman-netns.sh), not found near \(executable): run it from a checkout (sudo make demo), or with --skip-managed", exitCode: ExitCode.unavailable)
        }
        return harnesses
    }

    func harness(_ script: String, _ arguments: [String]) throws -> String {
        let output = try ProcessRunner.run([script] + arguments)
        guard output.ok else {
            let said = (output.stderr + output.stdout).trimmingCharacters(in: .whitespacesAndNewlines)
            throw UserFacingError("demo part 5: `\((script as NSString).lastPathComponent) \(arguments.joined(separator: " "))` failed: \(said)", exitCode: ExitCode.failure)
        }
        return output.stdout
    }

    var ufwState: String { stateRoot + "/ufw" }
    var podmanState: String { stateRoot + "/podman" }

    func ufw(_ arguments: [String]) throws -> String { try harness(ufwHarness, ["cmd", namespace, ufwState, "--", "ufw"] + arguments) }
    func podman(_ arguments: [String]) throws -> String { try harness(podmanHarness, ["cmd", namespace, podmanState, "--", "podman"] + arguments) }

    /// The namespace and its veth to the client, ufw enabled with Debian's defaults, port 8080
    /// denied and 22 allowed, podman ready, and the container `web` publishing 8080 to its 80.
    /// Returns the container's address.
    func create() throws -> String {
        destroy()
        try Lab.run(["mkdir", "-p", "-m", "700", stateRoot])
        try Lab.run(["ip", "netns", "add", namespace])
        try Lab.run(["ip", "link", "add", "fwtdemo4", "netns", lab.client, "type", "veth", "peer", "name", "fwtdemo5", "netns", namespace])
        for (ns, dev, address) in [(lab.client, "fwtdemo4", Self.clientAddress), (namespace, "fwtdemo5", Self.hostAddress)] {
            try Lab.run(["ip", "-n", ns, "addr", "add", "\(address)/24", "dev", dev])
            try Lab.run(["ip", "-n", ns, "link", "set", dev, "up"])
        }
        try Lab.run(["ip", "-n", namespace, "link", "set", "lo", "up"])
        _ = try harness(ufwHarness, ["start", namespace, ufwState])
        _ = try ufw(["deny", "8080/tcp"])
        _ = try ufw(["allow", "22/tcp"])
        _ = try harness(podmanHarness, ["start", namespace, podmanState])
        _ = try podman(["run", "-d", "--name", "web", "-p", "8080:80", "localhost/fwt-busybox",
                        "sh", "-c", "while :; do echo hello from container web | nc -l -p 80; done"])
        let address = try podman(["inspect", "web", "--format", "{{.NetworkSettings.IPAddress}}"]).trimmingCharacters(in: .whitespacesAndNewlines)
        guard IPAddress(address) != nil else { throw UserFacingError("demo part 5: podman gave no address for the container web ('\(address)')", exitCode: ExitCode.failure) }
        return address
    }

    /// The harnesses' stop (podman removes its containers and netavark's rules, ufw is disabled and
    /// its chains deleted, their private /etc copies removed), then the namespace. Never throws:
    /// it runs on every way out.
    func destroy() {
        for (script, state) in [(podmanHarness, podmanState), (ufwHarness, ufwState)] where access(state, F_OK) == 0 {
            _ = try? ProcessRunner.run([script, "stop", namespace, state])
        }
        if access("/run/netns/\(namespace)", F_OK) == 0 { _ = try? ProcessRunner.run(["ip", "netns", "delete", namespace]) }
        rmdir(stateRoot)
        rmdir((stateRoot as NSString).deletingLastPathComponent)  // only when no other demo's is there
    }
}

extension ManagedLab {
    /// Part 5: the published port behind ufw, traced; then ufw's own way to open it, traced again.
    func show(tracer: LabTracer) throws {
        Console.print("""

        5. A managed firewall: ufw, on a host that runs a podman container publishing port 8080.
           Building it in \(namespace) (\(Self.hostAddress)), a second veth from \(lab.client) (\(Self.clientAddress)):
           ufw enabled with Debian's defaults (incoming and routed traffic denied), then
        $ ufw deny 8080/tcp
        $ ufw allow 22/tcp
        $ podman run -d --name web -p 8080:80 localhost/fwt-busybox …
        """)
        let web: String
        // A Ctrl-C on the terminal reaches the harnesses too, which give up: that is the interrupt.
        do { web = try create() } catch { try tracer.checkSignal(); throw error }
        try tracer.checkSignal()
        let status = try ufw(["status", "numbered"]).split(separator: "\n").map { "   " + $0 }.joined(separator: "\n")
        Console.print("$ ufw status numbered\n\(status)")
        try tracer.trace(8080, "   \"ufw denies 8080, so is the container's published port closed?\" Connecting to 8080:", netns: namespace, to: Self.hostAddress)
        Console.print("""

        Reading it: netavark DNATed 8080 to the container (\(web):80) in nat PREROUTING, so the packet was
        forwarded, and ufw's `deny 8080/tcp`, a rule of ufw-user-input (INPUT), was never consulted. What
        dropped it is ufw's FORWARD policy (DEFAULT_FORWARD_POLICY="DROP"): netavark 1.4's NETAVARK_FORWARD
        accepts only the container network's own traffic and its replies. With Docker the same port is
        reachable although ufw denies it: Docker's FORWARD chains accept it before ufw's are reached.
        Either way the rule that counts is a route rule, and ufw's own command makes it:
        $ ufw route allow proto tcp from any to \(web) port 80
        """)
        _ = try ufw(["route", "allow", "proto", "tcp", "from", "any", "to", web, "port", "80"])
        try tracer.trace(8080, "   Connecting to 8080 again:", netns: namespace, to: Self.hostAddress)
    }
}
