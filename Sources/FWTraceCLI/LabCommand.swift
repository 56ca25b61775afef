import ArgumentParser
import FWTraceCore
import FWTraceKernel
import Foundation
import Glibc

/// Traffic helpers for the demo's throwaway lab: a TCP listener and a TCP client, each inside a
/// network namespace. Hidden: they exist so `fwtrace demo` needs nothing but fwtrace itself.
struct LabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab", abstract: "Traffic helpers for the demo lab (listen, connect).",
        discussion: """
        `fwtrace demo` runs these in its lab's namespaces, so that the demo needs nothing but fwtrace itself: `lab listen` accepts TCP connections and answers a line, `lab connect` opens one and says what happened (connected, refused, unreachable or timed out).

        \(ExitCodesHelp.section([
            (ExitCode.success, "listened until SIGTERM, or connected"),
            (ExitCode.failure, "the connection failed, or a port could not be bound"),
            (ExitCode.usage, "invalid arguments"),
            (ExitCode.noPrivilege, "not enough privileges to enter the namespace"),
            (ExitCode.unavailable, "network namespace not found"),
        ]))
        """,
        shouldDisplay: false, subcommands: [Listen.self, Connect.self])

    struct Listen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Accept TCP connections on ports, answer a line, close.")
        @Option var netns: String?
        @Option var port: [UInt16] = []

        func run() throws {
            if let netns { try NetworkNamespace.resolve(netns).enter() }
            var sockets: [Int32] = []
            for port in port {
                let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
                var on: Int32 = 1, off: Int32 = 0
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, 4)
                setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, 4)
                var address = sockaddr_in6()
                address.sin6_family = sa_family_t(AF_INET6)
                address.sin6_port = port.bigEndian
                let bound = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
                }
                guard bound == 0, listen(fd, 64) == 0 else { throw SystemError("listen on port \(port)") }
                sockets.append(fd)
            }
            Console.print("listening \(port.map(String.init).joined(separator: " "))")
            let signalFD = try Signals.makeFD()
            var fds = sockets.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) } + [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)]
            while true {
                if poll(&fds, nfds_t(fds.count), -1) < 0 { continue }
                if fds.last!.revents != 0 { return }
                for entry in fds.dropLast() where entry.revents != 0 {
                    let client = accept(entry.fd, nil, nil)
                    guard client >= 0 else { continue }
                    let greeting = Array("hello from fwtrace lab\n".utf8)
                    _ = greeting.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
                    close(client)
                }
            }
        }
    }

    struct Connect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open a TCP connection and say what happened.",
                                                        usage: "fwtrace lab connect --to <address> --port <port> [<options>]")
        @Option var netns: String?
        @Option var to: String
        @Option var port: UInt16
        @Option var source: String?
        @Option var timeout: Double = 2

        func validate() throws {
            // Made into a timeval below: a huge or non-finite value would trap.
            guard (0.001...3600).contains(timeout) else { throw ValidationError("--timeout is seconds from 0.001 to 3600") }
        }
        func run() throws {
            if let netns { try NetworkNamespace.resolve(netns).enter() }
            let result = LabClient.connect(to: to, port: port, source: source, timeout: timeout)
            print(result)
            if !result.hasPrefix("connected") { throw ExitStatus(code: 1) }
        }
    }
}

enum LabClient {
    /// Connects and reads the greeting: "connected: <greeting>", "refused", "unreachable: …" or "timed out".
    static func connect(to host: String, port: UInt16, source: String?, timeout: Double) -> String {
        guard let address = IPAddress(host) else { return "invalid address \(host)" }
        let family = address.isV4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        func withSockaddr<T>(_ a: IPAddress, _ port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
            switch a {
            case .v4(let v):
                var s = sockaddr_in()
                s.sin_family = sa_family_t(AF_INET); s.sin_port = port.bigEndian; s.sin_addr.s_addr = v.bigEndian
                return withUnsafePointer(to: &s) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            case .v6(let bytes):
                var s = sockaddr_in6()
                s.sin6_family = sa_family_t(AF_INET6); s.sin6_port = port.bigEndian
                withUnsafeMutableBytes(of: &s.sin6_addr) { $0.copyBytes(from: bytes.bytes) }
                return withUnsafePointer(to: &s) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
            }
        }
        if let source, let sourceAddress = IPAddress(source) {
            guard withSockaddr(sourceAddress, 0, { bind(fd, $0, $1) }) == 0 else { return "cannot bind source \(source): \(String(cString: strerror(errno)))" }
        }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if withSockaddr(address, port, { Glibc.connect(fd, $0, $1) }) != 0 {
            switch errno {
            case ECONNREFUSED: return "refused (the host answered with a TCP reset: nothing listens, or a REJECT with tcp-reset)"
            case EHOSTUNREACH: return "unreachable: no route to host (an ICMP host-unreachable or host-prohibited answer, e.g. from a REJECT rule)"
            case ENETUNREACH: return "unreachable: network unreachable"
            case EINPROGRESS, ETIMEDOUT, EAGAIN: return "timed out (no answer: dropped somewhere)"
            default: return "failed: \(String(cString: strerror(errno)))"
            }
        }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        let greeting = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
        return "connected: \(greeting)"
    }
}
