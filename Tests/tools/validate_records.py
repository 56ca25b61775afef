#!/usr/bin/env python3
"""Validate fwtrace `--format json` output against the fwtrace/1 JSON Schema.

Usage: validate_records.py SCHEMA FILE...    (a FILE of "-" is stdin)

Each FILE holds JSON lines; blank lines are ignored. Every other line is one
record and must be a JSON object valid against SCHEMA. For each failure this
prints "FILE:LINE: <message> at <json path>", then a summary line
"validated N records, M invalid". Exit status: 0 if all N > 0 records are
valid, 1 if any is invalid or there were no records at all ("no records"),
2 on a usage error, an unusable schema or an unreadable file.

Needs only the `jsonschema` package (>= 4.0, e.g. Debian's 4.10).
"""

import json
import re
import sys

try:
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError as exc:  # pragma: no cover
    sys.stderr.write("validate_records.py: needs jsonschema >= 4.0 (%s)\n" % exc)
    sys.exit(2)

try:
    from jsonschema import FormatChecker
except ImportError:  # pragma: no cover
    FormatChecker = None

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(error):
    """JSONPath of the failing instance, e.g. $.path[1].verdict."""
    out = "$"
    for part in error.absolute_path:
        if isinstance(part, int):
            out += "[%d]" % part
        elif _IDENT.match(part):
            out += "." + part
        else:
            out += "[%s]" % json.dumps(part)
    return out


class DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey("duplicate key %s" % json.dumps(key))
        obj[key] = value
    return obj


def _reject_constant(name):
    raise ValueError("%s is not valid JSON" % name)


def parse_line(raw):
    """Return (object, None) or (None, message)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, "not UTF-8: %s" % exc
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates,
                          parse_constant=_reject_constant), None
    except DuplicateKey as exc:
        return None, "invalid JSON: %s" % exc
    except ValueError as exc:
        return None, "invalid JSON: %s" % exc


def _sort_key(error):
    return [(0, p, "") if isinstance(p, int) else (1, 0, p)
            for p in error.absolute_path]


def load_validator(path):
    try:
        with open(path, "rb") as fh:
            schema = json.load(fh)
    except (OSError, ValueError) as exc:
        sys.stderr.write("%s: cannot load schema: %s\n" % (path, exc))
        sys.exit(2)
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        sys.stderr.write("%s: invalid schema: %s at %s\n"
                         % (path, exc.message, json_path(exc)))
        sys.exit(2)
    kwargs = {}
    if FormatChecker is not None:
        kwargs["format_checker"] = FormatChecker()
    return Draft202012Validator(schema, **kwargs)


def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: %s SCHEMA FILE...  (FILE '-' is stdin)\n"
                         % (argv[0] if argv else "validate_records.py"))
        return 2
    validator = load_validator(argv[1])

    total = invalid = 0
    io_error = False
    for name in argv[2:]:
        try:
            if name == "-":
                data = sys.stdin.buffer.read()
            else:
                with open(name, "rb") as fh:
                    data = fh.read()
        except OSError as exc:
            sys.stderr.write("%s: cannot read: %s\n" % (name, exc))
            io_error = True
            continue
        label = name
        for lineno, raw in enumerate(data.split(b"\n"), 1):
            if not raw.strip():
                continue
            total += 1
            record, problem = parse_line(raw)
            if problem is not None:
                invalid += 1
                print("%s:%d: %s at $" % (label, lineno, problem))
                continue
            errors = sorted(validator.iter_errors(record), key=_sort_key)
            if errors:
                invalid += 1
                seen = set()
                for err in errors:
                    line = "%s:%d: %s at %s" % (label, lineno, err.message,
                                                json_path(err))
                    if line not in seen:
                        seen.add(line)
                        print(line)

    print("validated %d records, %d invalid" % (total, invalid))
    if io_error:
        return 2
    if total == 0:
        print("no records")
        return 1
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
