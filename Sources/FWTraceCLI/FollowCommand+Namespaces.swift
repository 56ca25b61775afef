import FWTraceCore
import FWTraceKernel
import Glibc

/// `follow` across several namespaces (`--netns` given more than once, `--all-netns`,
/// `--container`): MultiNamespaceTrace runs a session in each; this prints what it yields.
extension FollowCommand {
    func runAcrossNamespaces(_ job: TraceJob, json: Bool, view: TextView) throws {
        let listing = NamespaceListing.scan()
        let containers = ContainerNames(MultiNamespaceTrace.Target.containerStates(listing))
        var targets: [MultiNamespaceTrace.Target] = []
        func add(_ target: MultiNamespaceTrace.Target) {
            if let inode = target.inode, targets.contains(where: { $0.inode == inode }) { return }
            targets.append(target)
        }
        for spec in netns {
            let namespace = try NetworkNamespace.resolve(spec)
            let inode = NamespaceListing.inode(of: namespace.path)
            let container = listing.entries.first { $0.inode == inode }?.container.map(containers.name)
            add(.init(namespace: namespace, label: namespace.displayName, inode: inode, container: container))
        }
        for wanted in container {
            let id = containers.id(of: wanted) ?? wanted
            guard let entry = listing.entries.first(where: { e in e.container.map { $0.id == id || (id.count >= 12 && $0.id.hasPrefix(id)) } ?? false }),
                  let path = entry.path() else {
                let known = listing.entries.compactMap { $0.container.map(containers.name)?.label }
                throw UserFacingError("no running container '\(wanted)' found (by its name in the runtimes' state or its id in its processes' cgroups)" + (known.isEmpty ? ": no container's processes run here" : "; running: \(known.joined(separator: ", "))"), exitCode: ExitCode.unavailable)
            }
            let name = entry.container.map(containers.name)
            let label = name?.name ?? String(id.prefix(12))
            add(.init(namespace: NetworkNamespace.at(path: path, displayName: label), label: label, inode: entry.inode, container: name))
        }
        if !container.isEmpty && netns.isEmpty && !allNetns {
            add(.init(namespace: nil, label: "initial", inode: NamespaceListing.inode(of: "/proc/self/ns/net")))
        }
        let rescan: ((Set<UInt64>) -> [MultiNamespaceTrace.Target])? = allNetns ? { MultiNamespaceTrace.Target.scanAll(known: $0) } : nil
        if allNetns { for target in MultiNamespaceTrace.Target.all(listing, containers: containers) { add(target) } }

        let trace = try MultiNamespaceTrace(job: job, targets: targets, rescan: rescan, maxNamespaces: job.maxNamespaces)
        let out = BatchedOutput(fd: 1)
        defer { out.flush() }
        if !json {
            Console.error("fwtrace: tracing \(job.options.filter.summary) in \(allNetns ? "every network namespace" : targets.map { "netns \($0.label)" }.joined(separator: ", ")) (\(job.options.limit.map { "\($0.count)/\($0.unit)" } ?? "no limit") in each); Ctrl-C to stop\n")
        }
        let outcome = try trace.run { event in
            switch event {
            case .record(let line, _), .loss(let line, _, _, _):
                if json { out.append(line) } else if line.contains("\"type\":\"loss\"") || line.contains("\"type\":\"error\"") { Console.error("fwtrace: \(line)\n") }
            case .path(let path, let context):
                if json { out.appendPath(path, context: context) } else { out.append(view.render(path, netns: nil)) }
            case .notice(let text):
                Console.error("fwtrace: \(text)\n")
            }
            out.flush()
        }
        out.flush()
        if let failure = outcome.failure { throw failure }
        if outcome.paths == 0 && outcome.reason == .timeout {
            let hint = HintEngine.noMatchSeen(filter: job.options.filter, namespace: "the \(targets.count) namespaces traced", seconds: job.timeoutText,
                                              hooks: job.options.filter.inInterface == nil ? "prerouting and output" : "prerouting")
            Console.error("fwtrace: \(hint.message)\n")
            throw ExitStatus(code: ExitCode.noMatch)
        }
    }
}
