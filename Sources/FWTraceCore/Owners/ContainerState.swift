import Foundation

/// Containers as their runtime prints them: `podman ps --format json` (Id, Names, Ports with
/// host_port/container_port/protocol), `podman inspect` and `docker inspect` (Id, Name,
/// NetworkSettings.Networks.*.IPAddress, NetworkSettings.Ports "80/tcp": [{HostPort}]).
struct ContainerState: Sendable {
    struct Container: Sendable {
        var id: String
        var name: String
        var addresses: [String] = []
        /// (host port, container port, protocol)
        var ports: [(host: Int, container: Int, proto: String)] = []
    }

    private(set) var containers: [Container] = []

    init(_ texts: [String]) {
        var byID: [String: Container] = [:]
        var order: [String] = []
        for text in texts {
            guard let array = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else { continue }
            for object in array {
                // c/storage's containers.json (what podman keeps on disk) writes `id` and `names`.
                guard let id = object["Id"] as? String ?? object["ID"] as? String ?? object["id"] as? String else { continue }
                var container = byID[id] ?? Container(id: id, name: "")
                if byID[id] == nil { order.append(id) }
                if let names = object["Names"] as? [String] ?? object["names"] as? [String], let first = names.first { container.name = first }
                if let name = object["Name"] as? String, !name.isEmpty { container.name = name.hasPrefix("/") ? String(name.dropFirst()) : name }
                Self.readPorts(object, into: &container)
                if let settings = object["NetworkSettings"] as? [String: Any] {
                    for case let network as [String: Any] in (settings["Networks"] as? [String: Any] ?? [:]).values {
                        for key in ["IPAddress", "GlobalIPv6Address"] {
                            if let a = network[key] as? String, !a.isEmpty, !container.addresses.contains(a) { container.addresses.append(a) }
                        }
                    }
                }
                byID[id] = container
            }
        }
        containers = order.compactMap { byID[$0] }
    }

    static func readPorts(_ object: [String: Any], into container: inout Container) {
        for case let p as [String: Any] in object["Ports"] as? [Any] ?? [] {
            guard let host = p["host_port"] as? Int, let inner = p["container_port"] as? Int else { continue }
            let range = p["range"] as? Int ?? 1
            for i in 0..<max(range, 1) { container.ports.append((host + i, inner + i, p["protocol"] as? String ?? "tcp")) }
        }
        let settings = object["NetworkSettings"] as? [String: Any]
        for (key, value) in settings?["Ports"] as? [String: Any] ?? [:] {
            let parts = key.split(separator: "/")
            guard let inner = Int(parts.first ?? ""), let bindings = value as? [[String: Any]] else { continue }
            for b in bindings {
                if let host = Int(b["HostPort"] as? String ?? ""), !container.ports.contains(where: { $0.host == host }) {
                    container.ports.append((host, inner, parts.count > 1 ? String(parts[1]) : "tcp"))
                }
            }
        }
    }

    /// "10.88.0.2:80" → "80", "[fd00::2]:80" → "80"; an address without a port stays whole.
    static func port(of destination: String) -> String {
        guard let colon = destination.lastIndex(of: ":"), !destination.hasSuffix("]") else { return destination }
        let port = destination[destination.index(after: colon)...]
        return port.allSatisfy(\.isNumber) || port.contains("-") ? String(port) : destination
    }

    /// The address of "10.88.0.2:80" / "[fd00::2]:80".
    static func address(of destination: String) -> String {
        if destination.hasPrefix("["), let close = destination.firstIndex(of: "]") {
            return String(destination[destination.index(after: destination.startIndex)..<close])
        }
        let colons = destination.filter { $0 == ":" }.count
        return colons == 1 ? String(destination.prefix { $0 != ":" }) : destination
    }

    func container(id: String) -> Container? {
        containers.first { $0.id == id || (id.count >= 12 && $0.id.hasPrefix(id)) }
    }

    func container(address: String) -> Container? { containers.first { $0.addresses.contains(address) } }

    func container(hostPort: Int, proto: String) -> Container? {
        containers.first { $0.ports.contains { $0.host == hostPort && $0.proto == proto } }
    }
}

/// Containers' names by id, from the runtimes' state (ToolState.containers) of every namespace
/// read: how follow names the namespace of a container found by its cgroup (ContainerCgroup).
public struct ContainerNames: Sendable {
    private let state: ContainerState
    public init(_ states: [ToolState]) { state = ContainerState(states.flatMap(\.containers)) }

    /// The container as records name it; the name where the state has the id.
    public func name(_ cgroup: ContainerCgroup) -> ContainerName {
        let name = state.container(id: cgroup.id).map(\.name).flatMap { $0.isEmpty ? nil : $0 }
        return ContainerName(runtime: cgroup.runtime.rawValue, id: cgroup.id, name: name)
    }

    /// The id of the container with this name or id (prefix of 12 or more), if the state has it.
    public func id(of nameOrID: String) -> String? {
        state.containers.first { $0.name == nameOrID || $0.id == nameOrID || (nameOrID.count >= 12 && $0.id.hasPrefix(nameOrID)) }?.id
    }
}
