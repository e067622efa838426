#!/usr/bin/env bash
# scripts/perf-guard's comparison (no callgrind run): within the threshold passes, growth past it
# fails naming the kind, a missing kind fails, bad files and flags exit 2; and the stored
# baseline has every kind.
#   perf_guard_test.sh SOURCE_DIR
set -euo pipefail
guard="$1/scripts/perf-guard"
fail() { echo "perf_guard_test: $*" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
counts() { # hot cold https steer
  printf '{"commit": "x", "counts": {"hot range": %s, "cold range": %s, "https range": %s, "steer answer": %s}}\n' "$@"
}
counts 1000 2000 400000 80000 >"$work/base.json"
counts 1049 2000 400000 80000 >"$work/same.json"
counts 1000 2000 420400 80000 >"$work/tls.json"
counts 900 2000 400000 80000 >"$work/better.json"
echo '{"commit": "x", "counts": {"hot range": 1000}}' >"$work/partial.json"
echo 'not json' >"$work/bad.json"

expect() { # code args...
  local want="$1"; shift
  set +e
  out="$("$guard" "$@" 2>&1)"
  code=$?
  set -e
  [[ "$code" == "$want" ]] || fail "$* exited $code, not $want: $out"
}
expect 0 --compare "$work/base.json" "$work/same.json"
grep -q "| hot range | 1,000 | 1,049 | 1.049 |" <<<"$out" || fail "no table row: $out"
expect 1 --compare "$work/base.json" "$work/tls.json"
grep -q "https range: 1.051x" <<<"$out" || fail "the grown kind is not named: $out"
expect 0 --compare "$work/base.json" "$work/better.json"
grep -q "cheaper than" <<<"$out" || fail "an improvement is not reported: $out"
expect 1 --compare "$work/base.json" "$work/partial.json"
grep -q "cold range: not measured" <<<"$out" || fail "a missing kind is not named: $out"
expect 1 --compare "$work/base.json" "$work/tls.json" --threshold 0.05
expect 0 --compare "$work/base.json" "$work/tls.json" --threshold 0.06
expect 2 --compare "$work/base.json" "$work/bad.json"
expect 2 --compare "$work/base.json" "$work/missing.json"
expect 2 --threshold 7 --compare "$work/base.json" "$work/same.json"
expect 2 --no-such-flag
expect 0 --help
grep -q "instructions per request" <<<"$out" || fail "--help says nothing: $out"
expect 0 --compare "$1/tests/perf/baseline.json" "$1/tests/perf/baseline.json"
echo "perf_guard_test: ok"
