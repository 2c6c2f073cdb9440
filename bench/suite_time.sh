#!/usr/bin/env bash
# The test suite's wall time, before and after, one right after the other on this machine:
#   bench/suite_time.sh BEFORE_REV [BEFORE_CMD]
# runs the suite of BEFORE_REV (a git worktree, with this checkout's .venv and the worktree first on
# PYTHONPATH) with BEFORE_CMD (default: serial `pytest -q`, as the suite ran at c6351fb), then this
# checkout's suite with `make test`'s command, and prints both walls. Run it on an idle machine:
# other work moves both numbers. Example (README, issue 23): bench/suite_time.sh c6351fb
set -euo pipefail
if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 0; fi
[ $# -ge 1 ] || { echo "suite_time.sh: error: name the revision to compare with, e.g. bench/suite_time.sh c6351fb" >&2; exit 2; }
rev=$1
before_cmd=${2:-"pytest -q -p no:cacheprovider"}
root=$(git rev-parse --show-toplevel)
py="$root/.venv/bin/python"
[ -x "$py" ] || { echo "suite_time.sh: no $py; run make install first" >&2; exit 2; }
tree=$(mktemp -d)/before
git -C "$root" worktree add --detach "$tree" "$rev" >/dev/null
trap 'git -C "$root" worktree remove --force "$tree"' EXIT
logs=$(mktemp -d)

wall() {  # wall seconds of "$@", run in the current folder
  local start end
  start=$(date +%s.%N)
  "$@" >"$logs/$label.log" 2>&1 || echo "suite_time.sh: the $label suite failed, see $logs/$label.log" >&2
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

"$root/.venv/bin/ray" stop --force >/dev/null 2>&1 || true
label=before
before=$(cd "$tree" && PYTHONPATH="$tree" wall $py -m $before_cmd)
"$root/.venv/bin/ray" stop --force >/dev/null 2>&1 || true
label=after
after=$(cd "$root" && wall $py -m pytest -q -n 2 --dist loadfile -p no:cacheprovider)
printf 'before (%s, %s): %.0f s\nafter (%s, make test): %.0f s\nafter / before: %.2f\n' \
  "$rev" "$before_cmd" "$before" "$(git -C "$root" rev-parse --short HEAD)" "$after" "$(echo "$after / $before" | bc -l)"
echo "logs: $logs" >&2
