# Sourced by the campaign scripts: `run NAME ARGS...` starts, resumes or skips one sweep.
# A sweep is done when its results.md holds episodes; a sweep folder with Tune's or the driver's
# state is resumed; the wall time and workers of each piece are printed for its manifest entry.
WORKERS=${WORKERS:-1}
PY=${PYTHON:-python}
run() {  # NAME ARGS...
  local name=$1; shift
  local out=${GCTTT_RESULTS_DIR:-$HOME/gcttt-results}/sweeps/$name
  if [ -e "$out/results.md" ] && ! grep -q "no episodes" "$out/results.md"; then echo "== $name: done"; return; fi
  local resume=(); [ -d "$out/tune" ] && resume=(--resume)
  echo "== $(date +%T) $name"
  local start=$SECONDS
  "$PY" "$@" --name "$name" --workers "$WORKERS" "${resume[@]}"
  echo "== $(date +%T) $name: $((SECONDS - start)) s with $WORKERS workers"
}
