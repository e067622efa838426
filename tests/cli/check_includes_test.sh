#!/usr/bin/env bash
# scripts/check-includes against this tree (must pass) and against small trees made here that
# break the module direction (each must fail, naming the file and the modules), so that the
# check itself is shown to catch a reversed include and a cycle.
#   check_includes_test.sh SOURCE_DIR
set -euo pipefail
src="$1"
check="$src/scripts/check-includes"
fail() { echo "check_includes_test: $*" >&2; exit 1; }

out="$("$check" --root "$src")" || fail "the real tree does not pass: $out"
echo "$out"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/low" "$work/src/high" "$work/include/vcdn/low" "$work/include/vcdn/high"
cat >"$work/CMakeLists.txt" <<'CMAKE'
vcdn_module(low DEPS)
vcdn_module(high DEPS low
  LIBS something)
CMAKE
echo '#include <vcdn/low/a.h>' >"$work/src/high/b.cc"
echo '#pragma once' >"$work/include/vcdn/low/a.h"
echo '#pragma once' >"$work/include/vcdn/high/b.h"
"$check" --root "$work" >/dev/null || fail "a tree whose includes point down was refused"

# A reversed include: low (below) includes high (above).
echo '#include <vcdn/high/b.h>' >"$work/src/low/a.cc"
if out="$("$check" --root "$work" 2>&1)"; then fail "a reversed include passed: $out"; fi
grep -q 'src/low/a.cc:1: low includes high (vcdn/high/b.h), but low does not depend on high' \
  <<<"$out" || fail "the reversed include was not named: $out"
echo "reversed include refused: $out"
rm "$work/src/low/a.cc"

# A cycle in the declared graph.
sed -i 's/vcdn_module(low DEPS)/vcdn_module(low DEPS high)/' "$work/CMakeLists.txt"
if out="$("$check" --root "$work" 2>&1)"; then fail "a cycle passed: $out"; fi
grep -q 'cycle' <<<"$out" || fail "the cycle was not named: $out"
echo "cycle refused: $(head -n 1 <<<"$out")"
