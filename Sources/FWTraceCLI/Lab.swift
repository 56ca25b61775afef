import FWTraceKernel
import Foundation
import Glibc

/// The demo's throwaway lab: a client and a server namespace joined by a veth pair, with
/// addresses inside the lab only (10.99.0.0/24, fd99::/64), and the server firewall of the
/// classic "I opened 8080 with -A and it does not work" question.
struct Lab {
    let client: String
    let server: String
    static let clientAddress = "10.99.0.1"
    static let serverAddress = "10.99.0.2"
    static let bannedAddresses = ["10.99.0.66", "10.99.0.67"]

    init(prefix: String) {
        client = "\(prefix)-cli"
        server = "\(prefix)-srv"
    }

    @discardableResult
    static func run(_ arguments: [String]) throws -> ProcessRunner.Output {
        let output = try ProcessRunner.run(arguments)
        guard output.ok else {
            throw UserFacingError("lab setup failed: `\(arguments.joined(separator: " "))`: \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: ExitCode.failure)
        }
        return output
    }

    func inServer(_ arguments: [String]) throws { try Self.run(["ip", "netns", "exec", server] + arguments) }

    func create() throws {
        destroy()  // a lab left by an interrupted demo has the same names
        try Self.run(["ip", "netns", "add", client])
        try Self.run(["ip", "netns", "add", server])
        try Self.run(["ip", "link", "add", "fwtdemo0", "netns", client, "type", "veth", "peer", "name", "fwtdemo1", "netns", server])
        for (ns, dev, v4, v6) in [(client, "fwtdemo0", Self.clientAddress, "fd99::1"), (server, "fwtdemo1", Self.serverAddress, "fd99::2")] {
            try Self.run(["ip", "-n", ns, "addr", "add", "\(v4)/24", "dev", dev])
            try Self.run(["ip", "-n", ns, "addr", "add", "\(v6)/64", "dev", dev, "nodad"])
            try Self.run(["ip", "-n", ns, "link", "set", dev, "up"])
            try Self.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        }
        for banned in Self.bannedAddresses {
            try Self.run(["ip", "-n", client, "addr", "add", "\(banned)/24", "dev", "fwtdemo0"])
        }
    }

    /// The server's firewall, in the order the seed question lists it.
    func installClassicFirewall() throws {
        let ipt = ["iptables-nft"]
        try inServer(ipt + ["-N", "fail2ban-SSH"])
        for banned in Self.bannedAddresses {
            try inServer(ipt + ["-A", "fail2ban-SSH", "-s", banned, "-j", "REJECT", "--reject-with", "icmp-port-unreachable"])
        }
        try inServer(ipt + ["-A", "INPUT", "-p", "tcp", "-m", "tcp", "--dport", "22", "-j", "fail2ban-SSH"])
        try inServer(ipt + ["-A", "INPUT", "-m", "state", "--state", "RELATED,ESTABLISHED", "-j", "ACCEPT"])
        try inServer(ipt + ["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"])
        for port in ["22", "80", "443"] {
            try inServer(ipt + ["-A", "INPUT", "-p", "tcp", "-m", "state", "--state", "NEW", "-m", "tcp", "--dport", port, "-j", "ACCEPT"])
        }
        try inServer(ipt + ["-A", "INPUT", "-j", "REJECT", "--reject-with", "icmp-host-prohibited"])
        try inServer(ipt + ["-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT"])
        try inServer(ipt + ["-A", "FORWARD", "-j", "REJECT", "--reject-with", "icmp-host-prohibited"])
    }

    /// A container-like namespace behind the server (10.98.0.2, routed through 10.98.0.1) with a
    /// DNAT on the server from 10.99.0.2:8081 to its port 80, as a port-forward to a container is.
    var app: String { server.replacingOccurrences(of: "-srv", with: "-app") }
    static let appAddress = "10.98.0.2"

    func createAppBehindServer() throws {
        try Self.run(["ip", "netns", "add", app])
        try Self.run(["ip", "link", "add", "fwtdemo2", "netns", server, "type", "veth", "peer", "name", "fwtdemo3", "netns", app])
        try Self.run(["ip", "-n", server, "addr", "add", "10.98.0.1/24", "dev", "fwtdemo2"])
        try Self.run(["ip", "-n", app, "addr", "add", "\(Self.appAddress)/24", "dev", "fwtdemo3"])
        try Self.run(["ip", "-n", server, "link", "set", "fwtdemo2", "up"])
        try Self.run(["ip", "-n", app, "link", "set", "fwtdemo3", "up"])
        try Self.run(["ip", "-n", app, "link", "set", "lo", "up"])
        try Self.run(["ip", "-n", app, "route", "add", "default", "via", "10.98.0.1"])
        try inServer(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        try inServer(["iptables-nft", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "8081", "-j", "DNAT", "--to-destination", "\(Self.appAddress):80"])
        try inServer(["iptables-nft", "-I", "INPUT", "1", "-p", "tcp", "--dport", "8081", "-j", "ACCEPT"])
    }

    /// Deleting a namespace deletes its veth end and every rule in it: nothing else was made.
    func destroy() {
        for ns in [client, server, app] where access("/run/netns/\(ns)", F_OK) == 0 {
            _ = try? ProcessRunner.run(["ip", "netns", "delete", ns])
        }
    }
}
