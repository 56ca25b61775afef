#!/bin/bash
# An isolated rsyslogd that collects fwtrace's JSON lines and parses them with mmjsonparse.
#
#   Tests/tools/rsyslog-collector.sh start <dir> <port>     TCP on 127.0.0.1:<port>
#   Tests/tools/rsyslog-collector.sh start <dir> <path>     unix stream socket at <path> (absolute;
#                                                           best inside <dir>, which rsyslogd owns)
#   Tests/tools/rsyslog-collector.sh wait  <dir> <lines> [seconds]   until parsed.log + failed.log
#                                                           hold <lines> lines (default 10 s)
#   Tests/tools/rsyslog-collector.sh stop  <dir>
#
# start: writes <dir>/rsyslog.conf from rsyslog-collector.conf, runs
# `rsyslogd -n -f <dir>/rsyslog.conf -i <dir>/rsyslogd.pid` in the background, waits (10 s max)
# until the listener accepts connections, prints
#   rsyslog-collector: listening on 127.0.0.1:5514 (pid 1234, dir /tmp/x)
# and exits 0; on failure it prints rsyslogd's output and exits 1.
# As root, rsyslogd runs as nobody:nogroup (<dir> is chowned to it; <dir> must be reachable
# by nobody, e.g. a mktemp -d directory under /tmp), with no capabilities and no_new_privs.
# It loads nothing but imptcp and mmjsonparse: no /dev/log (imuxsock), no kernel log (imklog),
# no /etc/rsyslog.conf, nothing written outside <dir>.
#
# Output files in <dir>:
#   parsed.log      one line per JSON record: type=path verdict=drop src=... dport=... chain=...
#                   table=... rule=... session=... hints=code1,code2
#   records.jsonl   each parsed record re-serialised by rsyslog (%$!all-json%)
#   failed.log      lines that were not JSON, as received
#   rsyslogd.log    rsyslogd's own messages;  rsyslogd.out  its stdout/stderr
# stop: SIGTERM (rsyslogd flushes its files), SIGKILL after 5 s; the files stay.
# Exit status: 0 ok, 1 failure, 2 bad usage.
set -u
prog=rsyslog-collector
here=$(cd "$(dirname "$0")" && pwd)
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "$prog: $*" >&2; exit 1; }

pid_of() { # prints the pid of a live rsyslogd for <dir>, or nothing
    local p
    p=$(cat "$1/rsyslogd.pid" 2>/dev/null) || return 0
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && [ "$(cat /proc/"$p"/comm 2>/dev/null)" = rsyslogd ] && echo "$p"
}

listening() { # <port-or-path>: does something accept connections there?
    /usr/bin/python3 - "$1" <<'EOF'
import socket, sys
a = sys.argv[1]
s = socket.socket(socket.AF_UNIX if a.startswith("/") else socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(0.5)
try:
    s.connect(a if a.startswith("/") else ("127.0.0.1", int(a)))
except OSError:
    sys.exit(1)
s.close()
EOF
}

cmd_start() {
    [ $# -eq 2 ] || usage
    local dir=$1 where=$2 input
    command -v rsyslogd >/dev/null || die "rsyslogd not found (apt-get install --no-install-recommends rsyslog)"
    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(realpath "$dir")
    [ -z "$(pid_of "$dir")" ] || die "already running for $dir (pid $(pid_of "$dir"))"
    case "$where" in
        /*) input="path=\"$where\" unlink=\"on\" fileCreateMode=\"0666\"" ;;
        *[!0-9]*|"") usage ;;
        *) [ "$where" -ge 1 ] && [ "$where" -le 65535 ] || usage
           input="port=\"$where\" address=\"127.0.0.1\"" ;;
    esac
    if listening "$where"; then die "something already listens on $where"; fi
    mkdir -p "$dir/work"
    rm -f "$dir/rsyslogd.pid" "$dir/rsyslogd.out"
    sed -e "s#@DIR@#$dir#g" -e "s#@INPUT@#$input#" "$here/rsyslog-collector.conf" > "$dir/rsyslog.conf"

    # As root: run as nobody, without capabilities. Otherwise: as the caller.
    local run=()
    if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
        chown -R nobody:nogroup "$dir"
        if setpriv --reuid=nobody --regid=nogroup --clear-groups test -w "$dir" -a -x "$dir"; then
            run=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs)
        else
            echo "$prog: nobody cannot reach $dir; running rsyslogd as root without capabilities" >&2
            run=(setpriv --inh-caps=-all --bounding-set=-all --no-new-privs)
        fi
    fi
    rsyslogd -N1 -f "$dir/rsyslog.conf" > "$dir/rsyslogd.check" 2>&1 || { cat "$dir/rsyslogd.check" >&2; die "config check failed"; }
    # setsid: its own session, so the caller's terminal signals do not reach it.
    # Only 0-2 go to rsyslogd: a descriptor inherited from the caller (Foundation's Process
    # watches its child through a socket the child inherits) would keep the caller waiting for
    # as long as rsyslogd runs.
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
        done
        exec setsid "${run[@]}" rsyslogd -n -f "$dir/rsyslog.conf" -i "$dir/rsyslogd.pid" </dev/null >"$dir/rsyslogd.out" 2>&1
    ) &
    local launcher=$! i
    for i in $(seq 100); do
        if [ -n "$(pid_of "$dir")" ] && listening "$where"; then
            echo "$prog: listening on $( [ "${where#/}" != "$where" ] && echo "unix:$where" || echo "127.0.0.1:$where") (pid $(pid_of "$dir"), dir $dir)"
            return 0
        fi
        kill -0 "$launcher" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/rsyslogd.out" "$dir/rsyslogd.log" >&2 2>/dev/null
    kill "$launcher" 2>/dev/null
    die "rsyslogd did not listen on $where within 10 s"
}

cmd_wait() {
    [ $# -ge 2 ] && [ $# -le 3 ] || usage
    local dir=$1 want=$2 secs=${3:-10} n i
    for i in $(seq $(( secs * 10 ))); do
        n=$(cat "$dir/parsed.log" "$dir/failed.log" 2>/dev/null | wc -l)
        [ "$n" -ge "$want" ] && { echo "$prog: $n lines"; return 0; }
        sleep 0.1
    done
    die "only $(cat "$dir/parsed.log" "$dir/failed.log" 2>/dev/null | wc -l) of $want lines after $secs s"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    local dir=$1 p i
    p=$(pid_of "$dir")
    [ -n "$p" ] || { echo "$prog: not running for $dir"; return 0; }
    kill -TERM "$p"
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || { echo "$prog: stopped (pid $p)"; return 0; }; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    echo "$prog: killed (pid $p) after 5 s"
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    wait) shift; cmd_wait "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *) usage ;;
esac
