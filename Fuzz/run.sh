#!/bin/sh
# Runs one fuzz target for a bounded time on a fresh working corpus, seeded from SEEDS... (copied:
# libFuzzer writes what it finds into its first corpus directory, which must not be the repo's).
#   Fuzz/run.sh BINARY SECONDS WORKDIR SEEDS...
# Exit status: libFuzzer's, non-zero on a crash, a leak (ASan build), a timeout (an input taking
# over 10 s) or an out-of-memory (over 2 GB); the input that did it is left in WORKDIR/artifacts/.
# LeakSanitizer (ASan build) reads Fuzz/lsan.supp, which says why each suppression is there.
# FUZZ_RUNS=N stops after N executions instead (then SECONDS is only an upper bound).
set -eu
binary=$1 seconds=$2 work=$3
shift 3
name=$(basename "$binary")
rm -rf "$work/corpus" "$work/artifacts"
mkdir -p "$work/corpus" "$work/artifacts"
for seeds in "$@"; do
    [ -d "$seeds" ] && find "$seeds" -maxdepth 1 -type f -exec cp {} "$work/corpus/" \;
done
echo "fuzz $name: $(ls "$work/corpus" | wc -l) seeds, ${FUZZ_RUNS:+$FUZZ_RUNS runs or }${seconds} s"
# -jobs unset: one process, in-process (the machine is shared). -print_final_stats: the
# executions and exec/s that docs/fuzzing.md quotes. The log keeps only libFuzzer's own lines
# when all is well; on a failure it is printed whole.
log="$work/$name.log"
status=0
LSAN_OPTIONS="suppressions=$(dirname "$0")/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" "$binary" -max_total_time="$seconds" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" ${FUZZ_DICT:+-dict=$FUZZ_DICT} \
    "$work/corpus" >"$log" 2>&1 || status=$?
if [ "$status" != 0 ]; then
    cat "$log" >&2
    echo "fuzz $name: FAILED (exit $status); the input: $(ls "$work/artifacts")" >&2
    exit "$status"
fi
grep -aE '^(Done|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb))' "$log" | tr '\n' ' '
echo
