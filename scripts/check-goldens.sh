#!/usr/bin/env bash
# The golden tables (tests/golden/) are every user's tables: CI fails when
#   - the test run left them different from the committed files (a test rewrote them), or
#   - a commit since the rule began changes them together with other files: a golden change
#     is its own commit, whose message gives the old and new values (`a -> b`) and the reason.
# Usage: scripts/check-goldens.sh   (from the repository root, after the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
# The last commit before the rule: older history mixed goldens with code changes.
since=3fd541110a1804068c83b465efed014a1caaa593

if [ -n "$(git status --porcelain -- tests/golden)" ]; then
    echo "check-goldens: the tests left tests/golden/ different from the committed files:" >&2
    git status --short -- tests/golden >&2
    exit 1
fi
if ! git cat-file -e "$since^{commit}" 2>/dev/null; then
    echo "check-goldens: commit $since is not in this clone's history; the per-commit rule was not checked" >&2
    [ "${CI:-}" = true ] && exit 1
    exit 0
fi
bad=0
for c in $(git rev-list --no-merges "$since..HEAD" -- tests/golden); do
    files=$(git diff-tree --no-commit-id --name-only -r "$c")
    others=$(grep -v '^tests/golden/' <<<"$files" || true)
    msg=$(git log -1 --format=%B "$c")
    if [ -n "$others" ]; then
        echo "check-goldens: $(git log -1 --format='%h %s' "$c") changes tests/golden/ and also: $(echo $others)" >&2
        bad=1
    fi
    if ! grep -qE -- '->|→' <<<"$msg"; then
        echo "check-goldens: $(git log -1 --format='%h %s' "$c") changes tests/golden/ without giving old -> new values" >&2
        bad=1
    fi
done
exit $bad
