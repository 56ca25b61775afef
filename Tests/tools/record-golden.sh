#!/bin/sh
# Records the golden replay test's JSON lines (Tests/FWTraceCoreTests/Fixtures/golden/*.jsonl)
# from what the pipeline prints now: every captured fixture replayed as `follow` prints it.
# Only for a deliberate change of output: review `git diff` of the goldens and list every
# difference in the commit message. Needs a debug build with tests (`swift build --build-tests`).
set -eu
cd "$(dirname "$0")/../.."
FWTRACE_RECORD_GOLDEN=1 ${SWIFT:-swift} test --skip-build --filter GoldenReplayTests/testEveryFixtureReplaysAsRecorded
git status --short -- Tests/FWTraceCoreTests/Fixtures/golden
