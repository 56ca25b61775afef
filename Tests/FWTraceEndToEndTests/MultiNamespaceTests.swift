import Foundation
import XCTest

/// One path across namespaces (follow with --netns given several times, --all-netns), on the real
/// kernel: a client → router → server chain of namespaces, each with its own rules.
final class MultiNamespaceTests: XCTestCase {
    /// fwt-e2e-mn-c (10.71.1.2, .66) → fwt-e2e-mn-r (10.71.1.1 | 10.71.2.1, DNAT 8080 → 10.71.2.2:80,
    /// FORWARD policy drop but dport 80) → fwt-e2e-mn-s (10.71.2.2, INPUT drops 10.71.1.66).
    final class Chain {
        let c = "fwt-e2e-mn-c", r = "fwt-e2e-mn-r", s = "fwt-e2e-mn-s"
        init() throws {
            destroy()
            for ns in [c, r, s] {
                try E2E.run(["ip", "netns", "add", ns])
                try E2E.run(["ip", "-n", ns, "link", "set", "lo", "up"])
            }
            try E2E.run(["ip", "link", "add", "fwtmn0", "netns", c, "type", "veth", "peer", "name", "fwtmn1", "netns", r])
            try E2E.run(["ip", "link", "add", "fwtmn2", "netns", r, "type", "veth", "peer", "name", "fwtmn3", "netns", s])
            for (ns, dev, address) in [(c, "fwtmn0", "10.71.1.2/24"), (r, "fwtmn1", "10.71.1.1/24"), (r, "fwtmn2", "10.71.2.1/24"), (s, "fwtmn3", "10.71.2.2/24")] {
                try E2E.run(["ip", "-n", ns, "addr", "add", address, "dev", dev])
                try E2E.run(["ip", "-n", ns, "link", "set", dev, "up"])
            }
            try E2E.run(["ip", "-n", c, "addr", "add", "10.71.1.66/24", "dev", "fwtmn0"])
            try E2E.run(["ip", "-n", c, "route", "add", "default", "via", "10.71.1.1"])
            try E2E.run(["ip", "-n", s, "route", "add", "default", "via", "10.71.2.1"])
            try E2E.run(["ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
            try nft(r, """
            table inet router {
              chain prenat { type nat hook prerouting priority -100; tcp dport 8080 dnat ip to 10.71.2.2:80; }
              chain forward_filter { type filter hook forward priority 0; policy drop; ct state established,related accept; tcp dport 80 counter accept; }
            }
            """)
            try nft(s, """
            table inet server {
              chain input_filter { type filter hook input priority 0; policy accept; ip saddr 10.71.1.66 tcp dport 80 counter drop; }
            }
            """)
        }
        func nft(_ ns: String, _ script: String) throws { try E2E.applyNft(script, in: ns) }
        func send(_ arguments: [String]) throws {
            try E2E.run(["ip", "netns", "exec", c, "/usr/bin/python3", E2E.sendScript] + arguments)
        }
        func counter(_ ns: String, _ chain: String) throws -> Int {
            let listing = try E2E.run(["ip", "netns", "exec", ns, "nft", "list", "chain", "inet", ns == r ? "router" : "server", chain]).stdout
            guard let range = listing.range(of: #"counter packets (\d+)"#, options: .regularExpression) else { return -1 }
            return Int(listing[range].split(separator: " ")[2]) ?? -1
        }
        func tables(_ ns: String) -> String { (try? E2E.run(["ip", "netns", "exec", ns, "nft", "list", "tables"], check: false).stdout) ?? "" }
        func destroy() {
            for ns in [c, r, s] where FileManager.default.fileExists(atPath: "/run/netns/\(ns)") {
                _ = try? E2E.run(["ip", "netns", "delete", ns], check: false)
            }
        }
        deinit { destroy() }
    }

    /// Waits until every traced namespace's session has started.
    func waitStarted(_ follow: Follow, _ count: Int) {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, follow.records.filter({ $0["type"] as? String == "session" && $0["event"] as? String == "started" }).count < count { usleep(50_000) }
    }

    func testOnePathPerPacketAcrossRouterAndServer() throws {
        try E2E.requireRoot()
        let chain = try Chain()
        let follow = try Follow(["--standalone", "--netns", chain.r, "--netns", chain.s, "-p", "tcp", "--dport", "8080", "--timeout", "6s"])
        waitStarted(follow, 2)
        try chain.send(["tcp", "10.71.1.1", "8080", "--src", "10.71.1.2"])
        try chain.send(["tcp", "10.71.1.1", "8080", "--src", "10.71.1.66"])
        XCTAssertEqual(follow.wait(), 0, follow.stderr)
        let paths = follow.paths
        // connect() sends one SYN the server answers (a reset: nothing listens) and, for the
        // dropped one, its retransmission a second later: three packets, each one record.
        XCTAssertEqual(paths.count, 3, follow.output)
        E2E.validate(follow.outputPath)

        // The rules traced in the server are the user's filter as the router's DNAT rewrote it.
        let started = follow.records.filter { $0["type"] as? String == "session" && $0["event"] as? String == "started" }
        XCTAssertTrue(started.allSatisfy { ($0["rules"] as? [String] ?? []).contains { $0.contains("ip daddr 10.71.2.2 tcp dport 80") } }, "\(started)")

        for path in paths {
            let segments = path[array: "segments"]
            XCTAssertEqual(segments.map { $0["netns"] as? String }, [chain.r, chain.s], "\(path)")
            XCTAssertEqual(path[array: "crossings"].first?["out"] as? String, "fwtmn2")
            XCTAssertEqual(path[array: "crossings"].first?["in"] as? String, "fwtmn3")
            let steps = path[array: "path"]
            XCTAssertEqual(steps.first?["netns"] as? String, chain.r)
            XCTAssertEqual(steps.last?["netns"] as? String, chain.s)
            XCTAssertTrue(steps.contains { $0["chain"] as? String == "forward_filter" && $0["verdict"] as? String == "accept" })
        }
        // The router's DNAT runs for a connection's first packet; conntrack rewrites the
        // retransmission without it (the record joins on the packet's identity and trace id).
        XCTAssertEqual(paths.filter { $0[array: "path"].contains { $0["chain"] as? String == "prenat" && !$0[object: "nat"].isEmpty } }.count, 2)
        let accepted = paths.filter { $0[object: "packet"]["src"] as? String == "10.71.1.2" }
        let droppedPaths = paths.filter { $0[object: "packet"]["src"] as? String == "10.71.1.66" }
        XCTAssertEqual(accepted.map { $0["verdict"] as? String }, ["accept"])
        XCTAssertEqual(droppedPaths.map { $0["verdict"] as? String }, ["drop", "drop"])
        let dropped = try XCTUnwrap(droppedPaths.first)
        // Accepted in the server, where nothing listens: the no-listener check ran there.
        let noListener = accepted.first?[array: "hints"].first { $0["code"] as? String == "no-listener" }
        XCTAssertEqual(noListener?[object: "evidence"]["netns"] as? String, chain.s, "\(accepted)")
        XCTAssertEqual(dropped[object: "decided_by"]["chain"] as? String, "input_filter")
        let hint = dropped[array: "hints"].first { $0["code"] as? String == "dropped-in-namespace" }
        XCTAssertEqual(hint?[object: "evidence"]["netns"] as? String, chain.s, "\(dropped[array: "hints"])")
        // The kernel's own account: the router forwarded each, the server dropped two.
        XCTAssertEqual(try chain.counter(chain.r, "forward_filter"), paths.count)
        XCTAssertEqual(try chain.counter(chain.s, "input_filter"), droppedPaths.count)
        for ns in [chain.r, chain.s] { XCTAssertFalse(chain.tables(ns).contains("fwtrace_"), "left in \(ns): \(chain.tables(ns))") }
    }

    /// --all-netns in a sandbox (Tests/tools/netns-sandbox.sh: its own initial namespace, /proc and
    /// /run/netns, so the host's namespaces are neither seen nor touched): a namespace made after
    /// the session started is traced (one record from the client's output to the new namespace's
    /// input), and after kill -9 no fwtrace table is left in any namespace.
    func testAllNetnsTracesANewNamespaceAndKill9LeavesNoTable() throws {
        try E2E.requireRoot()
        let out = NSTemporaryDirectory() + "fwt-an-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let scenario = """
        set -eu
        c=fwt-e2e-an-c a=fwt-e2e-an-a b=fwt-e2e-an-b
        link() { ip link add "$3" netns "$1" type veth peer name "$4" netns "$2"; ip -n "$1" addr add "$5.1/24" dev "$3"; ip -n "$2" addr add "$5.2/24" dev "$4"; ip -n "$1" link set "$3" up; ip -n "$2" link set "$4" up; }
        for n in $c $a; do ip netns add $n; ip -n $n link set lo up; done
        link $c $a fwtan0 fwtan1 10.72.0
        "$FWTRACE" follow --standalone --all-netns -p tcp --dport 7777 --format json > "$OUT" 2> "$OUT.err" &
        pid=$!
        for i in $(seq 100); do [ "$(grep -c '"event":"started"' "$OUT")" -ge 3 ] && break; sleep 0.1; done
        ip netns add $b; ip -n $b link set lo up
        link $c $b fwtan2 fwtan3 10.72.1
        for i in $(seq 60); do [ "$(grep -c '"event":"started"' "$OUT")" -ge 4 ] && break; sleep 0.1; done
        ip netns exec $c /usr/bin/python3 "$SEND" tcp 10.72.1.2 7777 > /dev/null
        sleep 1
        tables() { if [ -z "$1" ]; then nft list tables; else ip netns exec "$1" nft list tables; fi; }
        for n in "" $c $a $b; do case "$(tables "$n")" in *fwtrace_*) echo "HAD ${n:-initial}";; esac; done
        kill -9 $pid; wait $pid 2>/dev/null || true
        for n in "" $c $a $b; do t=$(tables "$n"); case "$t" in *fwtrace_*) echo "LEFT ${n:-initial}: $t";; esac; done
        echo DONE
        """
        let result = try E2E.run(["env", "FWTRACE=\(E2E.binary)", "OUT=\(out)", "SEND=\(E2E.sendScript)",
                                  E2E.packageRoot.appendingPathComponent("Tests/tools/netns-sandbox.sh").path, "/bin/bash", "-c", scenario])
        let err = (try? String(contentsOfFile: out + ".err", encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: out + ".err")
        XCTAssertTrue(result.stdout.contains("DONE"), result.stdout + result.stderr)
        XCTAssertEqual(result.stdout.split(separator: "\n").filter { $0.hasPrefix("HAD ") }.count, 4, "a trace table in each namespace before the kill: \(result.stdout)")
        XCTAssertFalse(result.stdout.contains("LEFT"), result.stdout)
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let records = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let started = records.filter { $0["type"] as? String == "session" && $0["event"] as? String == "started" }.compactMap { $0["netns"] as? String }
        XCTAssertEqual(Set(started), ["initial", "fwt-e2e-an-c", "fwt-e2e-an-a", "fwt-e2e-an-b"], text + err)
        let paths = records.filter { $0["type"] as? String == "path" }
        XCTAssertEqual(paths.count, 1, text + err)
        XCTAssertEqual(paths.first?[array: "segments"].map { $0["netns"] as? String }, ["fwt-e2e-an-c", "fwt-e2e-an-b"], text)
        XCTAssertEqual(paths.first?[array: "crossings"].first?["out"] as? String, "fwtan2")
        XCTAssertEqual(paths.first?[array: "crossings"].first?["in"] as? String, "fwtan3")
        E2E.validate(out)
    }

    /// The real podman (Tests/tools/podman-netns.sh: Debian's podman, netavark, runc) in a namespace
    /// that plays the host, inside the sandbox; a container `web` publishes 8080 → 80 and has a
    /// rule of its own that drops 10.73.0.66. Traced with --all-netns from the client's connects:
    /// one record per packet holds the client's part, the host's DNAT and FORWARD steps and the
    /// container's INPUT steps with its name; accepted once, dropped in the container once (with
    /// its retransmission), and the hint names the container and its rule.
    func testPodmanContainerPathAcrossHostAndContainer() throws {
        try E2E.requireRoot()
        let out = NSTemporaryDirectory() + "fwt-pd-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let state = "/var/tmp/fwt-e2e-pd-\(getpid())"
        let scenario = """
        set -u
        H=fwt-e2e-pd-h C=fwt-e2e-pd-c
        trap '"$PODMAN" stop $H "$STATE" >/dev/null' EXIT
        for n in $H $C; do ip netns add $n; ip -n $n link set lo up; done
        ip link add fwtpd0 netns $C type veth peer name fwtpd1 netns $H
        ip -n $C addr add 10.73.0.2/24 dev fwtpd0; ip -n $C addr add 10.73.0.66/24 dev fwtpd0; ip -n $H addr add 10.73.0.1/24 dev fwtpd1
        ip -n $C link set fwtpd0 up; ip -n $H link set fwtpd1 up
        "$PODMAN" start $H "$STATE" >/dev/null || exit 1
        "$PODMAN" cmd $H "$STATE" -- podman run -d --name web -p 8080:80 localhost/fwt-busybox >/dev/null || exit 1
        cpid=$("$PODMAN" cmd $H "$STATE" -- podman inspect -f '{{.State.Pid}}' web) || exit 1
        printf '%s\n' 'table inet web {' ' chain input_filter { type filter hook input priority 0; policy accept; ip saddr 10.73.0.66 tcp dport 80 counter drop; }' '}' |
            nsenter --net=/proc/$cpid/ns/net nft -f - || exit 1
        "$FWTRACE" follow --standalone --all-netns -p tcp --dport 8080 --format json > "$OUT" 2> "$OUT.err" &
        pid=$!
        for i in $(seq 100); do [ "$(grep -c '"event":"started"' "$OUT")" -ge 4 ] && break; sleep 0.1; done
        ip netns exec $C /usr/bin/python3 "$SEND" tcp 10.73.0.1 8080 --src 10.73.0.2 >/dev/null
        ip netns exec $C /usr/bin/python3 "$SEND" tcp 10.73.0.1 8080 --src 10.73.0.66 >/dev/null
        sleep 1
        kill $pid; wait $pid; echo "FOLLOW $?"
        echo "COUNTER $(nsenter --net=/proc/$cpid/ns/net nft list chain inet web input_filter | grep -o 'counter packets [0-9]*' | grep -o '[0-9]*$')"
        # --container by name: the container's namespace (and this one), the packet as it is there.
        "$FWTRACE" follow --standalone --container web -p tcp --dport 80 --count 1 --timeout 15s --format json > "$OUT.container" 2>> "$OUT.err" &
        pid=$!
        for i in $(seq 100); do [ "$(grep -c '"event":"started"' "$OUT.container")" -ge 2 ] && break; sleep 0.1; done
        ip netns exec $C /usr/bin/python3 "$SEND" tcp 10.73.0.1 8080 --src 10.73.0.66 >/dev/null
        wait $pid; echo "CONTAINER $?"
        "$FWTRACE" follow --standalone --container nosuch -p tcp --dport 80 --timeout 1s 2>&1; echo "NOSUCH $?"
        echo DONE
        """
        let result = try E2E.run(["env", "FWTRACE=\(E2E.binary)", "OUT=\(out)", "SEND=\(E2E.sendScript)", "STATE=\(state)",
                                  "PODMAN=\(E2E.packageRoot.appendingPathComponent("Tests/tools/podman-netns.sh").path)",
                                  E2E.packageRoot.appendingPathComponent("Tests/tools/netns-sandbox.sh").path, "/bin/bash", "-c", scenario])
        let err = (try? String(contentsOfFile: out + ".err", encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: out + ".err")
        XCTAssertTrue(result.stdout.contains("FOLLOW 0"), result.stdout + result.stderr + err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: state), "podman-netns.sh stop removes its state")
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        E2E.validate(out)
        let records = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let syns = records.filter { $0["type"] as? String == "path" && ($0[object: "packet"]["tcp_flags"] as? [String]) == ["syn"] }
        let accepted = syns.filter { $0[object: "packet"]["src"] as? String == "10.73.0.2" }
        let dropped = syns.filter { $0[object: "packet"]["src"] as? String == "10.73.0.66" }
        XCTAssertEqual(accepted.map { $0["verdict"] as? String }, ["accept"], text)
        XCTAssertEqual(dropped.map { $0["verdict"] as? String }, ["drop", "drop"], text)
        for path in accepted + dropped {
            let segments = path[array: "segments"]
            XCTAssertEqual(segments.map { $0["netns"] as? String }, ["fwt-e2e-pd-c", "fwt-e2e-pd-h", "web"], "\(path)")
            XCTAssertEqual(segments.last?[object: "container"]["name"] as? String, "web")
            XCTAssertEqual(segments.last?[object: "container"]["runtime"] as? String, "podman")
            let steps = path[array: "path"]
            XCTAssertTrue(steps.contains { $0["netns"] as? String == "fwt-e2e-pd-h" && $0["hook"] as? String == "forward" && $0["chain"] as? String == "FORWARD" }, "the host's FORWARD: \(steps)")
            XCTAssertTrue(steps.contains { $0["netns"] as? String == "web" && $0["hook"] as? String == "input" && $0["chain"] as? String == "input_filter" }, "the container's INPUT: \(steps)")
        }
        // The connection's first packet meets netavark's DNAT (the retransmission is rewritten by conntrack).
        for path in [accepted.first, dropped.first].compactMap({ $0 }) {
            XCTAssertTrue(path[array: "path"].contains { ($0["text"] as? String ?? "").contains("-j DNAT --to-destination 10.88.0.2:80") }, "\(path)")
        }
        let hint = dropped.first?[array: "hints"].first { $0["code"] as? String == "dropped-in-namespace" }
        XCTAssertEqual(hint?[object: "evidence"]["container"] as? String, "web", "\(dropped.first?[array: "hints"] ?? [])")
        XCTAssertTrue((hint?["message"] as? String ?? "").contains("input_filter"), "\(hint ?? [:])")
        // The kernel's account: the container's rule dropped each of the dropped records' packets.
        XCTAssertTrue(result.stdout.contains("COUNTER \(dropped.count)\n"), result.stdout)
        // --container web: its own namespace named, the packet as rewritten there, its rule's drop.
        let containerText = (try? String(contentsOfFile: out + ".container", encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: out + ".container")
        XCTAssertTrue(result.stdout.contains("CONTAINER 0"), result.stdout + err)
        let inContainer = containerText.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["type"] as? String == "path" }
        XCTAssertEqual(inContainer.count, 1, containerText)
        XCTAssertEqual(inContainer.first?["netns"] as? String, "web", containerText)
        XCTAssertEqual(inContainer.first?[object: "packet"]["dport"] as? Int, 80, containerText)
        XCTAssertEqual(inContainer.first?["verdict"] as? String, "drop", containerText)
        XCTAssertTrue(result.stdout.contains("no running container 'nosuch' found") && result.stdout.contains("running: web"), result.stdout)
        XCTAssertTrue(result.stdout.contains("NOSUCH 5\n"), result.stdout)
    }

    /// The daemon across namespaces, in the sandbox: a watch with `all_netns = true` (to a file
    /// sink) and a client's `follow --all-netns` through the control socket each give one record
    /// from the client's output to the server's input drop, with the hint; the kernel's counter
    /// agrees; after kill -9 of the daemon no fwtrace table is left in any namespace.
    func testDaemonWatchAndClientAcrossAllNamespacesAndKill9() throws {
        try E2E.requireRoot()
        let dir = NSTemporaryDirectory() + "fwt-dn-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let scenario = """
        set -eu
        c=fwt-e2e-dn-c s=fwt-e2e-dn-s
        for n in $c $s; do ip netns add $n; ip -n $n link set lo up; done
        ip link add fwtdn0 netns $c type veth peer name fwtdn1 netns $s
        ip -n $c addr add 10.74.0.1/24 dev fwtdn0; ip -n $s addr add 10.74.0.2/24 dev fwtdn1
        ip -n $c link set fwtdn0 up; ip -n $s link set fwtdn1 up
        printf '%s\\n' 'table inet srv {' ' chain input_filter { type filter hook input priority 0; policy accept; tcp dport 7778 counter drop; }' '}' |
            ip netns exec $s nft -f -
        printf '%s\\n' '[daemon]' "socket = \\"$DIR/ctl.sock\\"" 'socket_group = "root"' '[[sink]]' 'name = "file"' 'type = "file"' "path = \\"$DIR/watch.jsonl\\"" \\
            '[[watch]]' 'name = "every"' 'all_netns = true' 'limit = 10' 'proto = "tcp"' 'dport = 7778' 'sinks = ["file"]' > "$DIR/fwtrace.toml"
        "$FWTRACE" daemon --config "$DIR/fwtrace.toml" 2> "$DIR/daemon.err" &
        dpid=$!
        for i in $(seq 100); do grep -q 'ready:' "$DIR/daemon.err" && break; sleep 0.1; done
        "$FWTRACE" follow --socket "$DIR/ctl.sock" --all-netns --limit 20 -p tcp --dport 7778 --count 1 --timeout 20s --format json > "$DIR/client.jsonl" 2> "$DIR/client.err" &
        cpid=$!
        for i in $(seq 100); do [ "$(grep -c '"event":"started"' "$DIR/client.jsonl")" -ge 3 ] && [ "$(grep -c '"event":"started"' "$DIR/watch.jsonl" 2>/dev/null || echo 0)" -ge 3 ] && break; sleep 0.1; done
        ip netns exec $c /usr/bin/python3 "$SEND" tcp 10.74.0.2 7778 > /dev/null
        wait $cpid; echo "CLIENT $?"
        sleep 0.5
        tables() { if [ -z "$1" ]; then nft list tables; else ip netns exec "$1" nft list tables; fi; }
        for n in "" $c $s; do case "$(tables "$n")" in *fwtrace_*) echo "HAD ${n:-initial}";; esac; done
        kill -9 $dpid; wait $dpid 2>/dev/null || true
        for n in "" $c $s; do t=$(tables "$n"); case "$t" in *fwtrace_*) echo "LEFT ${n:-initial}: $t";; esac; done
        echo "COUNTER $(ip netns exec $s nft list chain inet srv input_filter | grep -o 'counter packets [0-9]*' | grep -o '[0-9]*$')"
        echo DONE
        """
        let result = try E2E.run(["env", "FWTRACE=\(E2E.binary)", "DIR=\(dir)", "SEND=\(E2E.sendScript)",
                                  E2E.packageRoot.appendingPathComponent("Tests/tools/netns-sandbox.sh").path, "/bin/bash", "-c", scenario])
        let logs = ["daemon.err", "client.err"].map { (try? String(contentsOfFile: dir + "/" + $0, encoding: .utf8)) ?? "" }.joined(separator: "\n")
        XCTAssertTrue(result.stdout.contains("CLIENT 0") && result.stdout.contains("DONE"), result.stdout + result.stderr + logs)
        // The watch's session in each namespace, then the client's once the watch's are up: the
        // three namespaces had a table each (two sessions' in each) while the daemon ran, none after.
        XCTAssertEqual(result.stdout.split(separator: "\n").filter { $0.hasPrefix("HAD ") }.count, 3, result.stdout + logs)
        XCTAssertFalse(result.stdout.contains("LEFT"), result.stdout)
        // Each namespace traced at the limit: the watch (10/s) may take 64 of them (640 of
        // max_trace_rate's 1000), the client (20/s) what is left, 18.
        XCTAssertTrue(logs.contains("in every namespace (at most 18 at once), limit 20/second"), logs)
        for file in ["client.jsonl", "watch.jsonl"] {
            let text = (try? String(contentsOfFile: dir + "/" + file, encoding: .utf8)) ?? ""
            E2E.validate(dir + "/" + file)
            let records = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let started = records.filter { $0["type"] as? String == "session" && $0["event"] as? String == "started" }.compactMap { $0["netns"] as? String }
            XCTAssertEqual(Set(started), ["initial", "fwt-e2e-dn-c", "fwt-e2e-dn-s"], "\(file): \(text)" + logs)
            let syns = records.filter { $0["type"] as? String == "path" && ($0[object: "packet"]["tcp_flags"] as? [String]) == ["syn"] }
            XCTAssertGreaterThanOrEqual(syns.count, 1, "\(file): \(text)" + logs)
            guard let first = syns.first else { continue }
            XCTAssertEqual(first[array: "segments"].map { $0["netns"] as? String }, ["fwt-e2e-dn-c", "fwt-e2e-dn-s"], "\(file): \(first)")
            XCTAssertEqual(first["verdict"] as? String, "drop", "\(file): \(first)")
            XCTAssertTrue(first[array: "hints"].contains { $0["code"] as? String == "dropped-in-namespace" }, "\(file): \(first)")
            if file == "watch.jsonl" {
                XCTAssertEqual(first["watch"] as? String, "every", "\(first)")
                // The kernel's account: the server's rule dropped each SYN the watch recorded.
                XCTAssertTrue(result.stdout.contains("COUNTER \(syns.count)\n"), result.stdout + text)
            }
        }
    }
}
