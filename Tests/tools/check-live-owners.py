#!/usr/bin/env python3
"""Checks the owners a live `fwtrace follow` gave against what each tool itself says.

    Tests/tools/check-live-owners.py DIR

DIR is what `capture-owner-fixtures.sh --out DIR TOOL...` wrote: per tool a folder with the live
follow's trace-*.jsonl and the tool's own output (tool-*.txt, tool-*.json). For each step with an
`owner`, every identity key is looked up in the tool's words:
  ufw        rule N and text = line [N] of `ufw status numbered` (spaces collapsed); default = a
             "Default:" of `ufw status verbose`
  fail2ban   jail in `fail2ban-client status`'s jail list; banned in `fail2ban-client banned`
  firewalld  zone in `firewall-cmd --list-all-zones`; a service, port, source or rich rule in
             that zone's own list; interface/source of a *_ZONES chain in the zone's list
  podman     container and container_id as `podman ps --format json` has them; port as
             `podman port -a` maps it
  shorewall  from_zone/to_zone among `shorewall show zones`
and each folder must show at least one owner that carries the tool's identity (not only
`manager`). Where --apply-fixes ran a hint's fix (fixes.txt, fixed-<name>.jsonl: the same packet
traced again after the tool's own commands), the verdict must have changed. Prints one line per folder; exit 0 when all agree, 1 otherwise, 2 bad usage.
"""
import ast
import glob
import json
import os
import re
import sys


def text(folder, name):
    try:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def owned_steps(folder):
    """(trace name, step) for every step with an owner in the live traces."""
    out = []
    for path in sorted(glob.glob(os.path.join(folder, "trace-*.jsonl"))):
        name = os.path.basename(path)[6:-6]
        with open(path, encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                if record.get("type") != "path":
                    continue
                out += [(name, s) for s in record["path"] if s.get("owner")]
    return out


def verdict(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record.get("type") == "path":
                return record["verdict"]
    return None


def check_fixes(folder, problems):
    """The fixed traces: each verdict changed by the fix. Returns how many were checked."""
    fixed = sorted(glob.glob(os.path.join(folder, "fixed-*.jsonl")))
    for path in fixed:
        name = os.path.basename(path)[6:-6]
        before, after = verdict(os.path.join(folder, f"trace-{name}.jsonl")), verdict(path)
        if after is None or before == after:
            problems.append(f"{name}: the fix ({fixes_for(folder, name)}) left the verdict {before} -> {after}")
    return len(fixed)


def fixes_for(folder, name):
    listed = text(folder, "fixes.txt") or ""
    return "; ".join(line.split(": ", 1)[1] for line in listed.splitlines() if line.startswith(name + ": ")) or "deduplicated"


def squash(s):
    return re.sub(r"\s+", " ", s).strip()


def check_ufw(folder, steps, problems):
    numbered = {}
    for line in (text(folder, "tool-ufw-status-numbered.txt") or "").splitlines():
        m = re.match(r"^\[\s*(\d+)\]\s+(.*)$", line)
        if m:
            numbered[int(m.group(1))] = squash(m.group(2))
    verbose = text(folder, "tool-ufw-status-verbose.txt") or ""
    defaults = re.search(r"^Default: (.*)$", verbose, re.M)
    named = 0
    for trace, step in steps:
        o = step["owner"]
        if o["manager"] != "ufw":
            continue
        if "rule" in o:
            named += 1
            said = numbered.get(o["rule"])
            if said is None or squash(o.get("text", "")) != said:
                problems.append(f"{trace}: ufw rule {o['rule']} '{o.get('text')}', ufw status numbered says '{said}'")
        if "default" in o:
            named += 1
            if not defaults or o["default"] not in defaults.group(1):
                problems.append(f"{trace}: ufw default '{o['default']}' not in ufw status verbose's '{defaults and defaults.group(1)}'")
    return named


def check_fail2ban(folder, steps, problems):
    status = text(folder, "tool-fail2ban-client-status.txt") or ""
    m = re.search(r"Jail list:\s*(.*)$", status, re.M)
    jails = {j.strip() for j in m.group(1).split(",")} if m else set()
    banned = set()
    try:
        for entry in ast.literal_eval((text(folder, "tool-fail2ban-client-banned.txt") or "[]").strip()):
            for addresses in entry.values():
                banned.update(addresses)
    except (ValueError, SyntaxError) as e:
        problems.append(f"fail2ban-client banned is unreadable: {e}")
    named = 0
    for trace, step in steps:
        o = step["owner"]
        # fail2ban's nftables actions share one chain (f2b-chain) among the jails: no jail there.
        if o["manager"] != "fail2ban" or "jail" not in o:
            continue
        named += 1
        if o["jail"] not in jails:
            problems.append(f"{trace}: jail '{o.get('jail')}' not in fail2ban-client status's {sorted(jails)}")
        if "banned" in o and o["banned"] not in banned:
            problems.append(f"{trace}: banned {o['banned']} not in fail2ban-client banned's {sorted(banned)}")
    return named


def firewalld_zones(listing):
    """zone → key → value text, from `firewall-cmd --list-all-zones`."""
    zones, zone, key = {}, None, None
    for line in listing.splitlines():
        if line and not line[0].isspace():
            zone = line.split()[0]
            zones[zone] = {}
        elif zone and re.match(r"^  [a-z-]+( [a-z-]+)?:", line):
            key, _, value = line.strip().partition(":")
            zones[zone][key] = value.strip()
        elif zone and key and line.startswith("\t"):
            zones[zone][key] += "\n" + line.strip()
    return zones


FIREWALLD_KEYS = {"service": "services", "port": "ports", "protocol": "protocols", "source-port": "source-ports",
                  "rich rule": "rich rules", "forward-port": "forward-ports", "icmp-block": "icmp-blocks",
                  "interface": "interfaces", "source": "sources", "target": "target"}


def check_firewalld(folder, steps, problems):
    zones = firewalld_zones(text(folder, "tool-firewall-cmd-list-all-zones.txt") or "")
    named = 0
    for trace, step in steps:
        o = step["owner"]
        if o["manager"] != "firewalld" or "zone" not in o:
            continue
        named += 1
        zone = zones.get(o["zone"])
        if zone is None:
            problems.append(f"{trace}: zone '{o['zone']}' not among firewall-cmd --list-all-zones's {sorted(zones)}")
            continue
        key = FIREWALLD_KEYS.get(o.get("element"))
        if key and "value" in o:
            listed = zone.get(key, "")
            # One word of the list (a service, a port), or one whole line (a rich rule).
            items = [squash(i) for i in listed.splitlines()] if key in ("rich rules", "forward-ports") else listed.split()
            if squash(o["value"]) not in items:
                problems.append(f"{trace}: zone {o['zone']} {o['element']} '{o['value']}' not in its {key}: '{listed}'")
    return named


def check_podman(folder, steps, problems):
    try:
        ps = json.loads(text(folder, "tool-podman-ps.json") or "[]")
    except ValueError as e:
        ps = []
        problems.append(f"podman ps --format json is unreadable: {e}")
    ids = {c["Id"]: set(c.get("Names", [])) for c in ps}
    ports = text(folder, "tool-podman-port-a.txt") or ""
    named = 0
    for trace, step in steps:
        o = step["owner"]
        if o["manager"] != "podman":
            continue
        if "container_id" in o or "container" in o:
            named += 1
            match = [i for i in ids if "container_id" not in o or i.startswith(o["container_id"].rstrip("…"))]
            if not match or ("container" in o and o["container"] not in ids[match[0]]):
                problems.append(f"{trace}: container {o.get('container')} {o.get('container_id')} not as podman ps has it")
        if "port" in o:
            named += 1
            if o["port"].split("/")[0] not in ports:
                problems.append(f"{trace}: port {o['port']} not in podman port -a: {squash(ports)}")
    # follow reads podman's containers.json: a container podman ps lists is named on its steps.
    if ids and not any("container" in step["owner"] for _, step in steps if step["owner"]["manager"] == "podman"):
        problems.append("no step names a container by name, though podman ps lists " + ", ".join(sorted(n for ns in ids.values() for n in ns)))
    return named


def check_shorewall(folder, steps, problems):
    shown = text(folder, "tool-shorewall-show-zones.txt") or ""
    zones = {line.split()[0] for line in shown.splitlines()[1:] if line and not line[0].isspace()}
    named = 0
    for trace, step in steps:
        o = step["owner"]
        if o["manager"] != "shorewall":
            continue
        for key in ("from_zone", "to_zone"):
            if key in o:
                named += 1
                if o[key] not in zones and o[key] != "all":
                    problems.append(f"{trace}: {key} '{o[key]}' not among shorewall show zones's {sorted(zones)}")
    return named


CHECKS = {"ufw": [check_ufw], "ufw-podman": [check_ufw, check_podman], "ufw-docker": [check_ufw],
          "fail2ban": [check_fail2ban], "fail2ban-nftables": [check_fail2ban], "firewalld": [check_firewalld],
          "podman": [check_podman], "shorewall": [check_shorewall], "shorewall-legacy": [check_shorewall]}


def main(argv):
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    failed = False
    folders = sorted(f for f in os.listdir(argv[1]) if f in CHECKS)
    if not folders:
        print(f"no tool folders in {argv[1]}", file=sys.stderr)
        return 1
    for tool in folders:
        folder = os.path.join(argv[1], tool)
        steps, problems = owned_steps(folder), []
        named = sum(check(folder, steps, problems) for check in CHECKS[tool])
        if named == 0:
            problems.append("no owner with the tool's identity in any trace")
        fixed = check_fixes(folder, problems)
        failed |= bool(problems)
        print(f"{tool}: {len(steps)} owned steps, {named} identities checked, {fixed} fixes applied, "
              + ("agree" if not problems else f"{len(problems)} disagree"))
        for p in problems:
            print(f"  {p}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
