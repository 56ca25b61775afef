#!/bin/sh
# Checks Tests/tools/size-check on made-up sources: a long function with a `// size:` reason above
# its doc comment and attribute passes, one without is reported with its length, braces in
# strings and comments are not counted, protocol requirements have no body; a long file is
# reported unless its opening comment has a reason. Run: Tests/tools/size-check-test.sh
set -eu
tool=$(dirname "$0")/size-check
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "size-check-test: $*" >&2; exit 1; }
{
    echo 'protocol P {'; echo '    func a() -> Int'; echo '    init(x: Int)'; echo '}'
    echo 'struct L {'; echo '    // size: one line per case of a table'; echo '    /// doc'; echo '    @inline(never)'
    echo '    public static func excused() {'
    i=0; while [ $i -lt 70 ]; do echo '        let s = "}{" /* } */'; i=$((i + 1)); done
    echo '    }'
    echo '    func plain(x: Int) -> Int {'
    i=0; while [ $i -lt 59 ]; do echo '        _ = "}" // }'; i=$((i + 1)); done
    echo '        return x'; echo '    }'; echo '}'
} > "$dir/Functions.swift"
out=$("$tool" "$dir" 2>/dev/null) && fail "a 62-line function passed"
[ "$out" = "$dir/Functions.swift:81: func plain 62 lines (function; over 60)" ] || fail "unexpected report: $out"
{ echo '// size: generated'; i=0; while [ $i -lt 401 ]; do echo "let v$i = $i"; i=$((i + 1)); done; } > "$dir/Long.swift"
sed -i '/^    func plain/,/^    }/{/_ = /d}' "$dir/Functions.swift"
"$tool" "$dir" >/dev/null 2>&1 || fail "excused file or short functions reported: $("$tool" "$dir" 2>&1)"
sed -i '1d' "$dir/Long.swift"
out=$("$tool" "$dir" 2>/dev/null) && fail "a 401-line file passed"
[ "$out" = "$dir/Long.swift: 401 lines (file; over 400)" ] || fail "unexpected report: $out"
echo "size-check-test: ok"
