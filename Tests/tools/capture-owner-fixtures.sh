#!/bin/bash
# Captures the rulesets real firewall managers write, with what each tool says about them, and a
# few packets traced through each: the fixtures of issue 14 (who wrote each rule), under
# Tests/FWTraceCoreTests/Fixtures/owners/<tool>/.
#
#   sudo Tests/tools/capture-owner-fixtures.sh [--fwtrace PATH | --no-trace] [--out DIR] [--apply-fixes] [TOOL...]
#
# --apply-fixes: after a tool's traces, run the fix each trace's hints give (evidence `fix`: the
# tool's own commands, `; `-separated, each distinct command once, in the tool's namespace through
# its harness) and trace the same packet again as fixed-<name>; fixes.txt lists what ran. Only
# commands of the tool itself (ufw, fail2ban-client, firewall-cmd) are run.
# --out DIR: write the tools' folders into DIR instead (the live test of the owners,
# OwnerLiveTests, captures afresh there and checks each owner against what the tool says).
# TOOL: ufw podman ufw-podman ufw-docker fail2ban fail2ban-nftables firewalld docker shorewall
# shorewall-legacy kube-proxy (default:
# all, in that order; ufw-podman and ufw-docker: ufw and the container runtime in one namespace,
# a published port that ufw denies).
# For each tool it makes two namespaces, fwt-own-<tool>-s (where the tool runs) and
# fwt-own-<tool>-c (the client), joined by a veth pair o0 (10.77.0.1/24, fd77::1/64) / c0
# (10.77.0.2/24 and 10.77.0.9/24, fd77::2/64 and fd77::9/64), starts the tool through its harness in this folder
# (Docker and kube-proxy: their rules as data, docker-rules.sh, kube-proxy-rules.sh), configures
# it with the tool's own commands, and writes into the tool's folder:
#   ruleset.nft.txt (nft -a list ruleset), ruleset.json (nft -j list ruleset),
#   iptables-nft-save.txt, ip6tables-nft-save.txt, iptables-legacy-save.txt (only when not empty),
#   tool-*.txt / tool-*.json (what the tool itself says: status, config files, state),
#   trace-<name>.hex + trace-<name>.jsonl (`fwtrace follow ... --capture --format json` in the
#   tool's namespace while the client sends one TCP SYN), and README.md (versions, commands).
# Tracing takes /tmp/fwtrace-e2e.lock for each tool's packets; without a built fwtrace (default
# .build/debug/fwtrace) or with --no-trace only rulesets and tool output are captured.
# Traffic stays between the two namespaces (and the tool's containers); nothing runs in the host's
# namespace. Everything made is removed at the end, also on failure (trap): the harnesses' stop,
# then the namespaces this script made. A namespace of these names that exists already is an
# error (from an earlier run killed with SIGKILL: `ip netns del` it).
# Exit status: 0 all captured, 1 a tool failed (the others are still captured), 2 bad usage.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/Tests/FWTraceCoreTests/Fixtures/owners
fwtrace=$root/.build/debug/fwtrace
trace=1
apply_fixes=
tools=()
while [ $# -gt 0 ]; do
    case "$1" in
        --fwtrace) fwtrace=$(realpath -- "$2") || exit 2; shift 2 ;;
        --no-trace) trace=; shift ;;
        --apply-fixes) apply_fixes=1; shift ;;
        --out) out=$(realpath -m -- "$2") || exit 2; mkdir -p "$out" || exit 2; shift 2 ;;
        ufw|podman|ufw-podman|ufw-docker|fail2ban|fail2ban-nftables|firewalld|docker|shorewall|shorewall-legacy|kube-proxy) tools+=("$1"); shift ;;
        *) sed -n '6,7p' "$0" >&2; exit 2 ;;
    esac
done
[ ${#tools[@]} -gt 0 ] || tools=(ufw podman ufw-podman ufw-docker fail2ban fail2ban-nftables firewalld docker shorewall shorewall-legacy kube-proxy)
[ "$(id -u)" = 0 ] || { echo "capture-owner-fixtures: needs root" >&2; exit 1; }
if [ -n "$trace" ] && [ ! -x "$fwtrace" ]; then
    echo "capture-owner-fixtures: no fwtrace at $fwtrace: capturing without traces" >&2
    trace=
fi
work=$(mktemp -d /tmp/fwt-own.XXXXXX) || exit 1
made_ns=() stops=() pids=()

cleanup() {
    local i p
    e2e_unlock
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    pids=()
    for ((i = ${#stops[@]} - 1; i >= 0; i--)); do eval "${stops[i]}" >/dev/null 2>&1 || echo "cleanup failed: ${stops[i]}" >&2; done
    stops=()
    for p in "${made_ns[@]}"; do ip netns del "$p" 2>/dev/null; done
    made_ns=()
}
trap 'cleanup; rm -rf -- "$work"' EXIT
trap 'exit 130' HUP INT TERM

# The lab of one tool: S (the tool's namespace) and C (the client), veth o0/c0.
lab() { # <tool>
    S=fwt-own-$1-s C=fwt-own-$1-c
    local n
    for n in "$S" "$C"; do
        [ -e "/run/netns/$n" ] && { echo "namespace $n exists already (ip netns del $n)" >&2; return 1; }
        ip netns add "$n" || return 1
        made_ns+=("$n")
        ip -n "$n" link set lo up
    done
    ip link add o0 netns "$S" type veth peer name c0 netns "$C" || return 1
    ip -n "$S" addr add 10.77.0.1/24 dev o0
    ip -n "$S" addr add fd77::1/64 dev o0 nodad
    ip -n "$C" addr add 10.77.0.2/24 dev c0
    ip -n "$C" addr add 10.77.0.9/24 dev c0
    ip -n "$C" addr add fd77::2/64 dev c0 nodad
    ip -n "$C" addr add fd77::9/64 dev c0 nodad
    ip -n "$S" link set o0 up
    ip -n "$C" link set c0 up
    ip -n "$C" route add default via 10.77.0.1 dev c0 2>/dev/null
}
unlab() { cleanup; }

listen() { # <ports...>: fwtrace lab listen in S (or python when fwtrace is not built)
    local a=() p
    for p in "$@"; do a+=(--port "$p"); done
    if [ -x "$fwtrace" ]; then
        ip netns exec "$S" "$fwtrace" lab listen "${a[@]}" >/dev/null 2>&1 &
    else
        ip netns exec "$S" python3 -c '
import socket, sys, select
ss = []
for p in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("", int(p))); s.listen(8); ss.append(s)
while True:
    for s in select.select(ss, [], [])[0]:
        c, _ = s.accept(); c.sendall(b"hello\n"); c.close()' "$@" >/dev/null 2>&1 &
    fi
    pids+=($!)
    sleep 0.3
}

# send tcp DST PORT [--src ADDR]: one TCP connection attempt from C; says "connected" (and the
# server's first line, if it speaks within 0.5 s), "refused" or "timed out" (2 s, for the SYN).
send() { # from C, or from SEND_NS (a packet the tool's host sends)
    ip netns exec "${SEND_NS:-$C}" /usr/bin/python3 - "$@" <<'PY'
import socket, sys
a = sys.argv[1:]
dst, port = a[1], int(a[2])
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_STREAM)
if "--src" in a: s.bind((a[a.index("--src") + 1], 0))
s.settimeout(2)
try:
    s.connect((dst, port))
except ConnectionRefusedError:
    print("refused"); sys.exit(0)
except OSError as e:
    print("timed out" if isinstance(e, socket.timeout) else "failed: %s" % e); sys.exit(0)
s.settimeout(0.5)
try:
    line = s.recv(100).decode(errors="replace").strip()
except OSError:
    line = ""
print("connected" + (": " + line if line else ""))
PY
}

# The ruleset of S in every form.
rulesets() { # <dir>
    local d=$1 l
    ip netns exec "$S" nft -a list ruleset 2>/dev/null > "$d/ruleset.nft.txt"
    ip netns exec "$S" nft -j list ruleset 2>/dev/null | python3 -m json.tool > "$d/ruleset.json"
    ip netns exec "$S" iptables-nft-save | sed '/^#/d' > "$d/iptables-nft-save.txt"
    ip netns exec "$S" ip6tables-nft-save | sed '/^#/d' > "$d/ip6tables-nft-save.txt"
    l=$(ip netns exec "$S" iptables-legacy-save 2>/dev/null | sed '/^#/d')
    if [ -n "$l" ]; then echo "$l" > "$d/iptables-legacy-save.txt"; else rm -f "$d/iptables-legacy-save.txt"; fi
    l=$(ip netns exec "$S" ip6tables-legacy-save 2>/dev/null | sed '/^#/d')
    if [ -n "$l" ]; then echo "$l" > "$d/ip6tables-legacy-save.txt"; else rm -f "$d/ip6tables-legacy-save.txt"; fi
}

# trace <dir> <name> <follow filter...> -- <send args...>: one packet traced in S.
trace() {
    local d=$1 name=$2 f=() i
    shift 2
    while [ "$1" != -- ]; do f+=("$1"); shift; done
    shift
    [ -n "$trace" ] || return 0
    # The same packet again after a fix (fix_and_retrace): its filter and client, NUL-separated.
    printf '%s\0' "${f[@]}" > "$work/follow-$name"
    printf '%s\0' "$@" > "$work/send-$name"
    echo "${SEND_NS:-$C}" > "$work/sendns-$name"
    ip netns exec "$S" "$fwtrace" follow "${f[@]}" --count 1 --timeout 10s --format json \
        --capture "$d/trace-$name.hex" > "$d/trace-$name.jsonl" 2> "$work/follow.err" &
    local pid=$!
    for i in $(seq 50); do grep -q '"started"' "$d/trace-$name.jsonl" 2>/dev/null && break; sleep 0.1; done
    send "$@" > "$work/send.out" 2>&1
    wait "$pid"
    local rc=$?
    printf '  trace %-28s follow exit %s, client: %s\n' "$name" "$rc" "$(tr '\n' ' ' < "$work/send.out")"
    echo "| \`$name\` | \`fwtrace follow ${f[*]} --count 1 --timeout 10s --format json --capture trace-$name.hex\` | \`$*\` | $(tr -d '\n|' < "$work/send.out") |" >> "$d/.traces.md"
    [ "$rc" = 0 ] || { echo "  follow said:" >&2; cat "$work/follow.err" >&2; }
}
traces_begin() { : > "$1/.traces.md"; rm -f "$1"/trace-*.hex "$1"/trace-*.jsonl "$1"/fixed-*.hex "$1"/fixed-*.jsonl "$1/fixes.txt"; }

# fix_and_retrace <dir> <program> <runner...>: with --apply-fixes, the fixes the traces' hints
# give for <program> (ufw, fail2ban-client, firewall-cmd) run through <runner...> (the harness's
# cmd), then each fixed trace again as fixed-<name>. A fix with another program is not run.
fix_and_retrace() { # FIX_ONLY=GLOB: only the traces trace-GLOB.jsonl (default all)
    local d=$1 program=$2 name cmd words=()
    shift 2
    [ -n "$apply_fixes" ] && [ -n "$trace" ] || return 0
    /usr/bin/python3 - "$d" "$program" "${FIX_ONLY:-*}" > "$work/fixes" <<'PY' || return 1
import glob, json, os, shlex, sys
d, program, only = sys.argv[1], sys.argv[2], sys.argv[3]
seen = set()
for path in sorted(glob.glob(os.path.join(d, "trace-" + only + ".jsonl"))):
    name = os.path.basename(path)[6:-6]
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        for h in r.get("hints", []) if r.get("type") == "path" else []:
            fix = dict(h.get("evidence", {})).get("fix") if isinstance(h.get("evidence"), dict) else None
            if not fix:
                continue
            commands = [shlex.split(c) for c in fix.split("; ")]
            if any(not c or c[0] != program for c in commands):
                continue
            for c in commands:
                key = " ".join(c)
                # Each command once; the trace is still traced again (an empty command).
                sys.stdout.write(name + "\t" + ("" if key in seen else "\x1f".join(c)) + "\n")
                seen.add(key)
PY
    while IFS=$'\t' read -r name cmd; do
        [ -n "$cmd" ] || continue
        IFS=$'\x1f' read -r -a words <<< "$cmd"
        echo "$name: ${words[*]}" >> "$d/fixes.txt"
        # A "y" on stdin answers the one question the admin would (`ufw delete N` asks to proceed).
        "$@" "${words[@]}" <<< y > "$work/fix.out" 2>&1 || { echo "  fix for $name failed: ${words[*]}" >&2; cat "$work/fix.out" >&2; return 1; }
    done < "$work/fixes"
    local f=() c=()
    for name in $(cut -f1 "$work/fixes" | sort -u); do
        mapfile -d '' f < "$work/follow-$name"
        mapfile -d '' c < "$work/send-$name"
        ip netns exec "$S" "$fwtrace" follow "${f[@]}" --count 1 --timeout 10s --format json \
            --capture "$d/fixed-$name.hex" > "$d/fixed-$name.jsonl" 2> "$work/follow.err" &
        local pid=$! i
        for i in $(seq 50); do grep -q '"started"' "$d/fixed-$name.jsonl" 2>/dev/null && break; sleep 0.1; done
        SEND_NS=$(cat "$work/sendns-$name") send "${c[@]}" > "$work/send.out" 2>&1
        wait "$pid"
        printf '  fixed %-28s follow exit %s, client: %s\n' "$name" "$?" "$(tr '\n' ' ' < "$work/send.out")"
    done
}

ver() { dpkg-query -W -f='${Package} ${Version}\n' "$@" 2>/dev/null | sed 's/^/- /'; }
readme() { # <dir> <title> <how...>: README.md of a tool's folder (traces table appended)
    local d=$1 title=$2
    shift 2
    {
        echo "# $title"
        echo
        echo "Captured by \`Tests/tools/capture-owner-fixtures.sh\` on kernel $(uname -r), $(date -u +%Y-%m-%d)."
        echo
        printf '%s\n' "$@"
        echo
        echo "Packages (dpkg):"
        echo
        ver nftables iptables
        echo
        echo "The lab: namespace \`$S\` (the tool's) with \`o0\` 10.77.0.1/24, fd77::1/64; client \`$C\` with \`c0\` 10.77.0.2/24, 10.77.0.9/24, fd77::2/64, fd77::9/64."
        echo "Rulesets: \`ruleset.nft.txt\` (\`nft -a list ruleset\`), \`ruleset.json\` (\`nft -j list ruleset\`, pretty-printed), \`iptables-nft-save.txt\`, \`ip6tables-nft-save.txt\` (comments dropped), \`iptables-legacy-save.txt\` when the legacy tables were not empty; all taken before the traces."
        if [ -s "$d/.traces.md" ]; then
            echo
            echo "Traces (in \`$S\`, one TCP connection attempt each from \`$C\` (the client column: \`tcp DST PORT --src ADDR\`); \`.hex\` is the raw netlink capture, \`.jsonl\` fwtrace's output):"
            echo
            echo "| name | command in $S | client | client saw |"
            echo "|---|---|---|---|"
            cat "$d/.traces.md"
        fi
    } > "$d/README.md"
    rm -f "$d/.traces.md"
}

e2e_lock() { exec 8>/tmp/fwtrace-e2e.lock && flock 8; }
e2e_unlock() { flock -u 8 2>/dev/null; exec 8>&-; }

# --- ufw ------------------------------------------------------------------------------------------
cap_ufw() {
    local d=$out/ufw st=$work/ufw H=$here/ufw-netns.sh
    lab ufw || return 1
    mkdir -p "$d"
    stops+=("$H stop $S $st")
    $H start "$S" "$st" || return 1
    u() { $H cmd "$S" "$st" -- ufw "$@"; }
    ua() { u "$@" >/dev/null || { echo "ufw $* failed" >&2; return 1; }; }
    ua allow from 10.77.0.0/24 to any port 8080 proto tcp
    ua allow from fd77::/64 to any port 8080 proto tcp
    ua deny 22/tcp
    ua limit 2222/tcp comment 'rate-limited ssh'
    ua allow 80/tcp
    ua deny from 10.77.0.9 to any port 80 proto tcp
    ua route allow in on o0 out on o1 to 10.78.0.2 port 80 proto tcp
    u status numbered > "$d/tool-ufw-status-numbered.txt"
    u status verbose > "$d/tool-ufw-status-verbose.txt"
    u show added > "$d/tool-ufw-show-added.txt"
    local f
    for f in user.rules user6.rules before.rules before6.rules after.rules after6.rules ufw.conf; do
        $H cmd "$S" "$st" -- cat "/etc/ufw/$f" > "$d/tool-etc-ufw-$f.txt"
    done
    $H cmd "$S" "$st" -- cat /etc/default/ufw > "$d/tool-etc-default-ufw.txt"
    rulesets "$d"
    traces_begin "$d"
    listen 8080 80 22 2222 9999
    e2e_lock
    trace "$d" v4-8080-allowed-rule1 --dport 8080 -- tcp 10.77.0.1 8080 --src 10.77.0.2
    trace "$d" v4-22-denied-rule2 --dport 22 -- tcp 10.77.0.1 22 --src 10.77.0.2
    trace "$d" v4-80-from-10.77.0.9-deny-shadowed --dport 80 -s 10.77.0.9 -- tcp 10.77.0.1 80 --src 10.77.0.9
    trace "$d" v4-80-allowed --dport 80 -s 10.77.0.2 -- tcp 10.77.0.1 80 --src 10.77.0.2
    trace "$d" v4-2222-limit-accepted --dport 2222 -- tcp 10.77.0.1 2222 --src 10.77.0.2
    trace "$d" v4-9999-default-deny --dport 9999 -- tcp 10.77.0.1 9999 --src 10.77.0.2
    trace "$d" v6-8080-allowed --dport 8080 -6 -- tcp fd77::1 8080
    fix_and_retrace "$d" ufw $H cmd "$S" "$st" -- || return 1
    if [ -n "$apply_fixes" ]; then
        # ufw's default deny (outgoing): a connection the host opens to the client, dropped by
        # OUTPUT's policy; the hint's `ufw allow out …` lets it out.
        ua default deny outgoing
        u status verbose > "$d/tool-ufw-status-verbose.txt"   # what the check reads the defaults from
        ip netns exec "$C" "$fwtrace" lab listen --port 9443 >/dev/null 2>&1 &
        pids+=($!)
        sleep 0.3
        SEND_NS=$S trace "$d" v4-out-9443-default-deny-outgoing --dport 9443 -- tcp 10.77.0.2 9443
        FIX_ONLY=v4-out-* fix_and_retrace "$d" ufw $H cmd "$S" "$st" -- || return 1
    fi
    e2e_unlock
    readme "$d" "ufw: fixtures of issue 14" \
        "ufw enabled by \`Tests/tools/ufw-netns.sh start $S DIR\` (private /etc/ufw and /etc/default through /etc/netns/$S, the package's templates), then, in order:" '' \
        '```' \
        'ufw allow from 10.77.0.0/24 to any port 8080 proto tcp' \
        'ufw allow from fd77::/64 to any port 8080 proto tcp' \
        'ufw deny 22/tcp' \
        "ufw limit 2222/tcp comment 'rate-limited ssh'" \
        'ufw allow 80/tcp' \
        'ufw deny from 10.77.0.9 to any port 80 proto tcp' \
        'ufw route allow in on o0 out on o1 to 10.78.0.2 port 80 proto tcp' \
        '```' '' \
        "What ufw says: \`tool-ufw-status-numbered.txt\` (\`ufw status numbered\`), \`tool-ufw-status-verbose.txt\`, \`tool-ufw-show-added.txt\` (\`ufw show added\`), and its files \`tool-etc-ufw-*.txt\` (user.rules and user6.rules carry the \`### tuple ###\` records), \`tool-etc-default-ufw.txt\`." '' \
        "$(ver ufw)" \
        "Note: the deny from 10.77.0.9 to port 80 comes after \`allow 80/tcp\` in ufw's order (rule numbers in \`ufw status numbered\`): the allow shadows it, as \`trace-v4-80-from-10.77.0.9-deny-shadowed\` shows (accepted by rule 4)."
    $H stop "$S" "$st"
    unlab
}

# --- podman / netavark ------------------------------------------------------------------------------
cap_podman() {
    local d=$out/podman st=$work/podman H=$here/podman-netns.sh
    lab podman || return 1
    mkdir -p "$d"
    stops+=("$H stop $S $st")
    $H start "$S" "$st" || return 1
    p() { $H cmd "$S" "$st" -- podman "$@"; }
    p run -d --name web -p 8080:80 localhost/fwt-busybox >/dev/null || return 1
    p run -d --name api -p 10.77.0.1:9090:80/tcp localhost/fwt-busybox >/dev/null || return 1
    p ps -a --format json > "$d/tool-podman-ps.json"
    p ps -a > "$d/tool-podman-ps.txt"
    p port -a > "$d/tool-podman-port-a.txt"
    p inspect web api > "$d/tool-podman-inspect.json"
    p network ls > "$d/tool-podman-network-ls.txt"
    p network inspect podman > "$d/tool-podman-network-inspect.json"
    p info --format '{{.Host.NetworkBackend}} {{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}' > "$d/tool-podman-info.txt"
    # netavark's state: the network configs podman hands it, and its run directory
    $H cmd "$S" "$st" -- sh -c "cd '$st' && find networks run/containers run/libpod -maxdepth 3 2>/dev/null | sort" > "$d/tool-netavark-state-files.txt"
    rulesets "$d"
    traces_begin "$d"
    e2e_lock
    trace "$d" v4-8080-published-web --dport 8080 -- tcp 10.77.0.1 8080 --src 10.77.0.2
    trace "$d" v4-9090-published-api-hostip --dport 9090 -- tcp 10.77.0.1 9090 --src 10.77.0.2
    trace "$d" v4-8081-not-published --dport 8081 -- tcp 10.77.0.1 8081 --src 10.77.0.2
    e2e_unlock
    readme "$d" "podman + netavark: fixtures of issue 14" \
        "podman ready by \`Tests/tools/podman-netns.sh start $S DIR\` (private containers.conf/storage.conf through /etc/netns/$S/containers: netavark, runc, vfs, cgroupfs; image localhost/fwt-busybox imported from Debian's static busybox), then:" '' \
        '```' \
        'podman run -d --name web -p 8080:80 localhost/fwt-busybox            # busybox httpd on :80' \
        'podman run -d --name api -p 10.77.0.1:9090:80/tcp localhost/fwt-busybox' \
        '```' '' \
        "What podman says: \`tool-podman-ps.json\` (\`podman ps -a --format json\`), \`tool-podman-ps.txt\`, \`tool-podman-port-a.txt\` (\`podman port -a\`), \`tool-podman-inspect.json\` (\`podman inspect web api\`), \`tool-podman-network-ls.txt\`, \`tool-podman-network-inspect.json\` (\`podman network inspect podman\`), \`tool-podman-info.txt\` (network backend, OCI runtime, storage driver). netavark 1.4 keeps no firewall state file: its rules are in the rulesets (the DNAT rule's comment names the container id); \`tool-netavark-state-files.txt\` lists the network config and run directories it was given." '' \
        "$(ver podman netavark aardvark-dns runc conmon busybox-static golang-github-containers-common)"
    $H stop "$S" "$st"
    unlab
}

# --- ufw and podman in one namespace: the published port ufw denies ---------------------------------
cap_ufw_podman() {
    local d=$out/ufw-podman st=$work/ufw-podman-u sp=$work/ufw-podman-p U=$here/ufw-netns.sh P=$here/podman-netns.sh
    lab ufw-podman || return 1
    mkdir -p "$d"
    stops+=("$U stop $S $st")
    $U start "$S" "$st" || return 1
    u() { $U cmd "$S" "$st" -- ufw "$@"; }
    ua() { u "$@" >/dev/null || { echo "ufw $* failed" >&2; return 1; }; }
    ua deny 8080/tcp
    ua allow 22/tcp
    stops+=("$P stop $S $sp")
    $P start "$S" "$sp" || return 1
    $P cmd "$S" "$sp" -- podman run -d --name web -p 8080:80 localhost/fwt-busybox >/dev/null || return 1
    u status numbered > "$d/tool-ufw-status-numbered.txt"
    u status verbose > "$d/tool-ufw-status-verbose.txt"
    $U cmd "$S" "$st" -- cat /etc/ufw/user.rules > "$d/tool-etc-ufw-user.rules.txt"
    $U cmd "$S" "$st" -- cat /etc/ufw/user6.rules > "$d/tool-etc-ufw-user6.rules.txt"
    $P cmd "$S" "$sp" -- podman ps -a --format json > "$d/tool-podman-ps.json"
    $P cmd "$S" "$sp" -- podman port -a > "$d/tool-podman-port-a.txt"
    $P cmd "$S" "$sp" -- podman inspect web > "$d/tool-podman-inspect.json"
    rulesets "$d"
    traces_begin "$d"
    listen 22 9999
    e2e_lock
    trace "$d" v4-8080-published-dropped-forward-policy --dport 8080 -- tcp 10.77.0.1 8080 --src 10.77.0.2
    trace "$d" v4-22-ufw-allowed --dport 22 -- tcp 10.77.0.1 22 --src 10.77.0.2
    trace "$d" v4-9999-ufw-default-deny --dport 9999 -- tcp 10.77.0.1 9999 --src 10.77.0.2
    # --apply-fixes: the policy hint's `ufw route allow …` (what route-allow/ below then finds made).
    fix_and_retrace "$d" ufw $U cmd "$S" "$st" -- || return 1
    e2e_unlock
    # ufw's own way to let forwarded traffic to the container through
    local r=$d/route-allow
    mkdir -p "$r"
    ua route allow proto tcp from any to 10.88.0.2 port 80
    u status numbered > "$r/tool-ufw-status-numbered.txt"
    $U cmd "$S" "$st" -- cat /etc/ufw/user.rules > "$r/tool-etc-ufw-user.rules.txt"
    rulesets "$r"
    traces_begin "$r"
    e2e_lock
    trace "$r" v4-8080-published-ufw-route-allowed --dport 8080 -- tcp 10.77.0.1 8080 --src 10.77.0.2
    e2e_unlock
    readme "$r" "ufw and podman, after ufw route allow: fixtures of issue 14" \
        "The lab of \`..\` (see its README) after \`ufw route allow proto tcp from any to 10.88.0.2 port 80\`: the published port 8080 (DNATed to web's 10.88.0.2:80) is now reachable, through ufw-user-forward, while \`ufw deny 8080/tcp\` (an INPUT rule) still stands." '' \
        "What ufw says: \`tool-ufw-status-numbered.txt\`, \`tool-etc-ufw-user.rules.txt\`." '' \
        "$(ver ufw podman netavark)"
    readme "$d" "ufw and podman in one namespace: fixtures of issue 14" \
        "ufw enabled by \`Tests/tools/ufw-netns.sh start $S DIR\` (Debian's defaults: DEFAULT_FORWARD_POLICY=DROP), then \`ufw deny 8080/tcp\` and \`ufw allow 22/tcp\`; then podman by \`Tests/tools/podman-netns.sh start $S DIR2\` in the same namespace and \`podman run -d --name web -p 8080:80 localhost/fwt-busybox\`." \
        "What happens (\`trace-v4-8080-published-dropped-forward-policy\`): netavark 1.4 DNATs the published port in nat PREROUTING, but its NETAVARK_FORWARD chain accepts only traffic from the container network (-s 10.88.0.0/16) and replies to it (RELATED,ESTABLISHED); the new connection to the container falls through ufw's forward chains to ufw's FORWARD policy DROP. ufw's INPUT deny of 8080 is never consulted (the packet is forwarded, not local). Unlike Docker (see ../ufw-docker), podman's published port is not reachable through ufw here until ufw itself routes it: \`route-allow/\`." '' \
        "What the tools say: \`tool-ufw-status-numbered.txt\`, \`tool-ufw-status-verbose.txt\`, \`tool-etc-ufw-user{,6}.rules.txt\`, \`tool-podman-ps.json\`, \`tool-podman-port-a.txt\`, \`tool-podman-inspect.json\`." '' \
        "$(ver ufw podman netavark runc)"
    $P stop "$S" "$sp"
    $U stop "$S" "$st"
    unlab
}

# The container of docker-rules.sh: namespace K on docker0 at 172.17.0.2, as Docker's bridge
# driver wires one, with a listener on port 80 (when fwtrace is built).
docker_container() { # <K>
    local K=$1
    [ -e "/run/netns/$K" ] && { echo "namespace $K exists already" >&2; return 1; }
    ip netns add "$K" && made_ns+=("$K")
    ip -n "$K" link set lo up
    ip link add vethfwt netns "$S" type veth peer name eth0 netns "$K"
    ip -n "$S" link set vethfwt master docker0 up
    ip -n "$K" addr add 172.17.0.2/16 dev eth0
    ip -n "$K" link set eth0 up
    ip -n "$K" route add default via 172.17.0.1
    if [ -x "$fwtrace" ]; then ip netns exec "$K" "$fwtrace" lab listen --port 80 >/dev/null 2>&1 & pids+=($!); fi
}

# --- ufw and Docker's rules in one namespace: the published port ufw denies, reachable ---------------
cap_ufw_docker() {
    local d=$out/ufw-docker st=$work/ufw-docker U=$here/ufw-netns.sh K=fwt-own-ufw-docker-k
    lab ufw-docker || return 1
    mkdir -p "$d"
    stops+=("$U stop $S $st")
    $U start "$S" "$st" || return 1
    u() { $U cmd "$S" "$st" -- ufw "$@"; }
    ua() { u "$@" >/dev/null || { echo "ufw $* failed" >&2; return 1; }; }
    ua deny 8080/tcp
    ua allow 22/tcp
    "$here/docker-rules.sh" "$S" 172.17.0.2 8080 80 > "$d/tool-docker-rules-log.txt" || return 1
    docker_container "$K" || return 1
    u status numbered > "$d/tool-ufw-status-numbered.txt"
    u status verbose > "$d/tool-ufw-status-verbose.txt"
    $U cmd "$S" "$st" -- cat /etc/ufw/user.rules > "$d/tool-etc-ufw-user.rules.txt"
    rulesets "$d"
    traces_begin "$d"
    listen 22
    e2e_lock
    trace "$d" v4-8080-ufw-denies-docker-accepts --dport 8080 -- tcp 10.77.0.1 8080 --src 10.77.0.2
    trace "$d" v4-22-ufw-allowed --dport 22 -- tcp 10.77.0.1 22 --src 10.77.0.2
    e2e_unlock
    readme "$d" "ufw and Docker's rules in one namespace: fixtures of issue 14" \
        "ufw enabled by \`Tests/tools/ufw-netns.sh start $S DIR\`, then \`ufw deny 8080/tcp\` and \`ufw allow 22/tcp\`; then, as a Docker daemon starting after ufw would, \`Tests/tools/docker-rules.sh $S 172.17.0.2 8080 80\` (Docker 20.10.24's commands as data, log in \`tool-docker-rules-log.txt\`) and a container namespace \`$K\` on docker0 at 172.17.0.2 listening on 80." \
        "The classic (\`trace-v4-8080-ufw-denies-docker-accepts\`): ufw denies 8080/tcp, yet the published port answers: DNAT in nat DOCKER, then FORWARD's first rules are Docker's (inserted with -I before ufw's appended jumps), and filter DOCKER accepts it; ufw's INPUT deny never sees the forwarded packet. Filtering it for real belongs in DOCKER-USER." '' \
        "What ufw says: \`tool-ufw-status-numbered.txt\`, \`tool-ufw-status-verbose.txt\`, \`tool-etc-ufw-user.rules.txt\`; no \`docker ps\` (no Docker ran)." '' \
        "$(ver ufw)"
    $U stop "$S" "$st"
    unlab
}

# --- fail2ban -------------------------------------------------------------------------------------
cap_fail2ban() { # [nft]: with nftables-multiport (the folder fail2ban-nftables)
    local v=${1:-} d=$out/fail2ban st=$work/fail2ban H=$here/fail2ban-netns.sh action=iptables-multiport
    [ "$v" = nft ] && d=$out/fail2ban-nftables action=nftables-multiport
    lab "fail2ban${v:+-$v}" || return 1
    mkdir -p "$d"
    stops+=("$H stop $S $st")
    $H start "$S" "$st" jail=sshd port=22,8080 banaction=$action || return 1
    f() { $H cmd "$S" "$st" -- fail2ban-client "$@"; }
    f set sshd banip 10.77.0.9 >/dev/null || return 1
    f set sshd banip fd77::9 >/dev/null || return 1
    f status > "$d/tool-fail2ban-client-status.txt"
    f status sshd > "$d/tool-fail2ban-client-status-sshd.txt"
    f get sshd banip --with-time > "$d/tool-fail2ban-client-get-sshd-banip-with-time.txt"
    f get sshd actions > "$d/tool-fail2ban-client-get-sshd-actions.txt"
    f banned > "$d/tool-fail2ban-client-banned.txt"
    $H cmd "$S" "$st" -- cat /etc/fail2ban/jail.local > "$d/tool-etc-fail2ban-jail.local.txt"
    rulesets "$d"
    traces_begin "$d"
    listen 8080 22
    e2e_lock
    trace "$d" v4-8080-from-banned-10.77.0.9 --dport 8080 -s 10.77.0.9 -- tcp 10.77.0.1 8080 --src 10.77.0.9
    trace "$d" v4-8080-not-banned --dport 8080 -s 10.77.0.2 -- tcp 10.77.0.1 8080 --src 10.77.0.2
    trace "$d" v4-22-from-banned-10.77.0.9 --dport 22 -s 10.77.0.9 -- tcp 10.77.0.1 22 --src 10.77.0.9
    trace "$d" v6-8080-not-banned --dport 8080 -6 -s fd77::2 -- tcp fd77::1 8080 --src fd77::2
    trace "$d" v6-8080-from-banned-fd77-9 --dport 8080 -6 -s fd77::9 -- tcp fd77::1 8080 --src fd77::9
    fix_and_retrace "$d" fail2ban-client $H cmd "$S" "$st" -- || return 1
    e2e_unlock
    readme "$d" "fail2ban ($action): fixtures of issue 14" \
        "fail2ban-server running by \`Tests/tools/fail2ban-netns.sh start $S DIR jail=sshd port=22,8080 banaction=$action\` (private /etc/fail2ban through /etc/netns/$S: jail.local in \`tool-etc-fail2ban-jail.local.txt\`; socket, pidfile, database, log in DIR), then:" '' \
        '```' \
        'fail2ban-client set sshd banip 10.77.0.9' \
        'fail2ban-client set sshd banip fd77::9' \
        '```' '' \
        "What fail2ban says: \`tool-fail2ban-client-status.txt\` (\`fail2ban-client status\`), \`tool-fail2ban-client-status-sshd.txt\` (\`status sshd\`), \`tool-fail2ban-client-get-sshd-banip-with-time.txt\` (ban time and expiry), \`tool-fail2ban-client-get-sshd-actions.txt\`, \`tool-fail2ban-client-banned.txt\`." '' \
        "$(ver fail2ban)"
    $H stop "$S" "$st"
    unlab
}

cap_fail2ban_nftables() { cap_fail2ban nft; }

# --- firewalld --------------------------------------------------------------------------------------
cap_firewalld() {
    local d=$out/firewalld st=$work/firewalld H=$here/firewalld-netns.sh z
    lab firewalld || return 1
    mkdir -p "$d"
    stops+=("$H stop $S $st")
    $H start "$S" "$st" || return 1
    fc() { $H cmd "$S" "$st" -- firewall-cmd "$@" >/dev/null; }
    fc --zone=public --add-interface=o0 || return 1
    fc --zone=public --add-port=8443/tcp
    fc --zone=work --add-source=10.77.0.8/29 || return 1
    fc --zone=work --add-service=http
    fc --zone=work --add-port=8080/tcp
    fc --zone=work --add-rich-rule='rule family="ipv4" source address="10.77.0.9" port port="9090" protocol="tcp" accept'
    fc --zone=work --add-forward-port=port=8081:proto=tcp:toport=8080
    fc --zone=work --add-masquerade
    fc --zone=work --add-icmp-block=echo-request
    fc --runtime-to-permanent
    $H cmd "$S" "$st" -- firewall-cmd --list-all-zones > "$d/tool-firewall-cmd-list-all-zones.txt"
    $H cmd "$S" "$st" -- firewall-cmd --list-all-policies > "$d/tool-firewall-cmd-list-all-policies.txt"
    $H cmd "$S" "$st" -- firewall-cmd --get-active-zones > "$d/tool-firewall-cmd-get-active-zones.txt"
    $H cmd "$S" "$st" -- firewall-cmd --get-default-zone > "$d/tool-firewall-cmd-get-default-zone.txt"
    for z in public work; do
        $H cmd "$S" "$st" -- firewall-cmd --zone=$z --list-all > "$d/tool-firewall-cmd-list-all-zone-$z.txt"
    done
    for z in "$st"/etc/zones/*.xml; do
        [ -f "$z" ] && cp "$z" "$d/tool-zone-$(basename "$z")"
    done
    cp "$st/etc/firewalld.conf" "$d/tool-firewalld.conf.txt"
    rulesets "$d"
    traces_begin "$d"
    listen 8080 8443 80 22 9090
    e2e_lock
    trace "$d" v4-8080-public-rejected --dport 8080 -s 10.77.0.2 -- tcp 10.77.0.1 8080 --src 10.77.0.2
    trace "$d" v4-8443-public-port --dport 8443 -s 10.77.0.2 -- tcp 10.77.0.1 8443 --src 10.77.0.2
    trace "$d" v4-22-public-service-ssh --dport 22 -s 10.77.0.2 -- tcp 10.77.0.1 22 --src 10.77.0.2
    trace "$d" v4-8080-work-source-port --dport 8080 -s 10.77.0.9 -- tcp 10.77.0.1 8080 --src 10.77.0.9
    trace "$d" v4-80-work-service-http --dport 80 -s 10.77.0.9 -- tcp 10.77.0.1 80 --src 10.77.0.9
    trace "$d" v4-9090-work-rich-rule --dport 9090 -s 10.77.0.9 -- tcp 10.77.0.1 9090 --src 10.77.0.9
    trace "$d" v4-8081-work-forward-port --dport 8081 -s 10.77.0.9 -- tcp 10.77.0.1 8081 --src 10.77.0.9
    trace "$d" v6-8443-public-port --dport 8443 -6 -- tcp fd77::1 8443
    fix_and_retrace "$d" firewall-cmd $H cmd "$S" "$st" -- || return 1
    e2e_unlock
    readme "$d" "firewalld: fixtures of issue 14" \
        "firewalld running by \`Tests/tools/firewalld-netns.sh start $S DIR\` (nftables backend, private D-Bus and configuration), then, each with \`firewall-cmd\`:" '' \
        '```' \
        '--zone=public --add-interface=o0' \
        '--zone=public --add-port=8443/tcp' \
        '--zone=work --add-source=10.77.0.8/29' \
        '--zone=work --add-service=http' \
        '--zone=work --add-port=8080/tcp' \
        "--zone=work --add-rich-rule='rule family=\"ipv4\" source address=\"10.77.0.9\" port port=\"9090\" protocol=\"tcp\" accept'" \
        '--zone=work --add-forward-port=port=8081:proto=tcp:toport=8080' \
        '--zone=work --add-masquerade' \
        '--zone=work --add-icmp-block=echo-request' \
        '--runtime-to-permanent' \
        '```' '' \
        "What firewalld says: \`tool-firewall-cmd-list-all-zones.txt\`, \`tool-firewall-cmd-list-all-policies.txt\`, \`tool-firewall-cmd-get-active-zones.txt\`, \`tool-firewall-cmd-get-default-zone.txt\`, \`tool-firewall-cmd-list-all-zone-{public,work}.txt\` (\`--zone=Z --list-all\`), the zone files it wrote (\`tool-zone-*.xml\`) and its firewalld.conf." \
        "The client 10.77.0.2 lands in zone public (interface o0); 10.77.0.9 in zone work (source 10.77.0.8/29): port 8080 is open in work only (\`trace-v4-8080-public-rejected\`: the admin's change went into another zone)." '' \
        "$(ver firewalld)"
    $H stop "$S" "$st"
    unlab
}

# --- Docker (data: docker-rules.sh) -------------------------------------------------------------------
cap_docker() {
    local d=$out/docker K=fwt-own-docker-k
    lab docker || return 1
    mkdir -p "$d"
    "$here/docker-rules.sh" "$S" 172.17.0.2 8080 80 > "$d/tool-docker-rules-log.txt" || return 1
    docker_container "$K" || return 1
    rulesets "$d"
    traces_begin "$d"
    listen 8081
    e2e_lock
    trace "$d" v4-8080-published-dnat --dport 8080 -- tcp 10.77.0.1 8080 --src 10.77.0.2
    trace "$d" v4-8081-host-input --dport 8081 -- tcp 10.77.0.1 8081 --src 10.77.0.2
    e2e_unlock
    readme "$d" "Docker (its rules as data): fixtures of issue 14" \
        "Docker Engine cannot run on this machine. \`Tests/tools/docker-rules.sh $S 172.17.0.2 8080 80\` issued in $S the iptables commands Docker 20.10.24 (Debian 12's docker.io $(apt-cache policy docker.io 2>/dev/null | awk '/Candidate/ {print $2}')) issues for a fresh daemon with its defaults and the default bridge docker0, then for \`docker run -p 8080:80\` of a container at 172.17.0.2, in the order its code issues them (moby v20.10.24, vendored libnetwork c5aa85f9: drivers/bridge/setup_ip_tables.go, iptables/iptables.go, firewall_linux.go, ...: see the script's header). \`tool-docker-rules-log.txt\` is what it ran (the probes before each command as comments)." \
        "The container is a namespace \`$K\` on docker0 (veth vethfwt/eth0, 172.17.0.2/16) with a listener on 80, as Docker's bridge driver wires one; there is no \`docker ps\` output, since no Docker ran." '' \
        "iptables: $(ip netns exec "$S" iptables --version)"
    unlab
}

# --- shorewall --------------------------------------------------------------------------------------
cap_shorewall() { # [legacy]: with IPTABLES=/usr/sbin/iptables-legacy (the folder shorewall-legacy)
    local v=${1:-} d=$out/shorewall st=$work/shorewall H=$here/shorewall-netns.sh f ipt=() b=()
    [ "$v" = legacy ] && d=$out/shorewall-legacy ipt=(iptables=legacy) b=(--backend legacy)
    lab "shorewall${v:+-$v}" || return 1
    mkdir -p "$d"
    stops+=("$H stop $S $st")
    $H start "$S" "$st" iface=o0 allow_net=10.77.0.0/24 "${ipt[@]}" || return 1
    for f in zones interfaces policy rules shorewall.conf; do
        $H cmd "$S" "$st" -- cat "/etc/shorewall/$f" > "$d/tool-etc-shorewall-$f.txt"
    done
    $H cmd "$S" "$st" -- shorewall show policies > "$d/tool-shorewall-show-policies.txt" 2>&1
    $H cmd "$S" "$st" -- shorewall show zones > "$d/tool-shorewall-show-zones.txt" 2>&1
    $H cmd "$S" "$st" -- shorewall status > "$d/tool-shorewall-status.txt" 2>&1
    $H cmd "$S" "$st" -- shorewall show capabilities > "$d/tool-shorewall-show-capabilities.txt" 2>&1
    rulesets "$d"
    traces_begin "$d"
    listen 8080 22 23 9999
    e2e_lock
    trace "$d" v4-8080-rule-accept "${b[@]}" --dport 8080 -- tcp 10.77.0.1 8080 --src 10.77.0.2
    trace "$d" v4-22-ssh-macro "${b[@]}" --dport 22 -- tcp 10.77.0.1 22 --src 10.77.0.2
    trace "$d" v4-23-rule-reject "${b[@]}" --dport 23 -- tcp 10.77.0.1 23 --src 10.77.0.2
    trace "$d" v4-9999-policy-net-fw-drop "${b[@]}" --dport 9999 -- tcp 10.77.0.1 9999 --src 10.77.0.2
    e2e_unlock
    readme "$d" "Shorewall${v:+ (iptables-$v)}: fixtures of issue 14" \
        "Shorewall started by \`Tests/tools/shorewall-netns.sh start $S DIR iface=o0 allow_net=10.77.0.0/24${v:+ iptables=$v}\`: its minimal two-zone configuration (fw, net on o0; files \`tool-etc-shorewall-*.txt\`), compiled and started by \`shorewall start\` with $(ip netns exec "$S" "iptables${v:+-$v}" --version)." '' \
        "What Shorewall says: \`tool-shorewall-show-policies.txt\` (\`shorewall show policies\`), \`tool-shorewall-show-zones.txt\`, \`tool-shorewall-status.txt\`, \`tool-shorewall-show-capabilities.txt\`." '' \
        "$(ver shorewall shorewall-core)"
    $H stop "$S" "$st"
    unlab
}

cap_shorewall_legacy() { cap_shorewall legacy; }

# --- kube-proxy (data: kube-proxy-rules.sh) ---------------------------------------------------------
cap_kube_proxy() {
    local d=$out/kube-proxy K
    [ -x "$here/kube-proxy-rules.sh" ] || { echo "kube-proxy: no kube-proxy-rules.sh yet: skipped" >&2; return 0; }
    lab kube-proxy || return 1
    mkdir -p "$d"
    # the endpoint: a namespace at 10.244.0.5 behind S, listening on 8080
    K=fwt-own-kube-proxy-k
    [ -e "/run/netns/$K" ] && { echo "namespace $K exists already" >&2; return 1; }
    ip netns add "$K" && made_ns+=("$K")
    ip -n "$K" link set lo up
    ip link add kpod0 netns "$S" type veth peer name eth0 netns "$K"
    ip -n "$S" addr add 10.244.0.1/24 dev kpod0
    ip -n "$S" link set kpod0 up
    ip -n "$K" addr add 10.244.0.5/24 dev eth0
    ip -n "$K" link set eth0 up
    ip -n "$K" route add default via 10.244.0.1
    ip netns exec "$S" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
    if [ -x "$fwtrace" ]; then ip netns exec "$K" "$fwtrace" lab listen --port 8080 >/dev/null 2>&1 & pids+=($!); fi
    "$here/kube-proxy-rules.sh" "$S" > "$d/tool-kube-proxy-rules-input.txt" || return 1
    rulesets "$d"
    traces_begin "$d"
    e2e_lock
    trace "$d" v4-nodeport-30080-endpoint --dport 30080 -- tcp 10.77.0.1 30080 --src 10.77.0.2
    trace "$d" v4-nodeport-30081-no-endpoints --dport 30081 -- tcp 10.77.0.1 30081 --src 10.77.0.2
    e2e_unlock
    readme "$d" "kube-proxy (its rules as data): fixtures of issue 14" \
        "kube-proxy is not packaged for Debian 12. \`Tests/tools/kube-proxy-rules.sh $S\` fed iptables-restore in $S the input kube-proxy's iptables proxier writes (see the script's header for the release and file), for the services it names; \`tool-kube-proxy-rules-input.txt\` is that input." \
        "The endpoint is a namespace \`$K\` (10.244.0.5/24 via kpod0 in $S) listening on 8080." '' \
        "iptables: $(ip netns exec "$S" iptables --version)"
    unlab
}

mkdir -p "$out"
failed=()
for t in "${tools[@]}"; do
    echo "== $t"
    fn=cap_${t//-/_}
    if ! "$fn"; then
        echo "== $t: FAILED" >&2
        failed+=("$t")
    fi
    cleanup
done
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}" >&2; exit 1; fi
echo "captured into $out: ${tools[*]}"
