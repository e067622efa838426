#!/usr/bin/env bash
# Runs every ```sh block of a Markdown guide, literally and in order, in one bash with
# `set -euo pipefail`, starting in the source checkout — so that a guide cannot drift from the
# software: a command that fails fails the test.
#
#   run_doc.sh GUIDE.md SOURCE_DIR
#
# The guide runs as root in private namespaces, so that it may use the fixed ports and paths an
# operator would (127.0.0.1:8070, /srv/vcdn, /usr/local/bin) without touching the machine:
#   - a new network namespace: its own loopback, nothing reaches or leaves it;
#   - a new mount namespace with tmpfs over /srv and /usr/local/bin, and the checkout's build/
#     behind an overlay whose writes go to a tmpfs (below);
#   - a new PID namespace: when the guide's shell ends, every process it started ends with it.
# Exit: the guide's own (0 when every command succeeded); 2 on a usage error or without root.
set -euo pipefail
if (($# != 2)); then
  echo "usage: run_doc.sh GUIDE.md SOURCE_DIR" >&2
  exit 2
fi
guide="$(realpath "$1")"
src="$(realpath "$2")"
if [[ $(id -u) -ne 0 ]]; then
  echo "run_doc.sh: needs root (namespaces, mounts)" >&2
  exit 2
fi
script="$(mktemp)"
overlay="$(mktemp -d)"
trap 'rm -f "$script"; rmdir "$overlay" 2>/dev/null || true' EXIT
awk '/^```sh$/ {on = 1; next} on && /^```/ {on = 0; next} on {print}' "$guide" >"$script"
if [[ ! -s "$script" ]]; then
  echo "run_doc.sh: $guide has no sh block" >&2
  exit 2
fi
echo "run_doc.sh: running $(grep -c . "$script") lines of $guide" >&2

# Inside: bring loopback up, cover /srv and /usr/local/bin, then source the guide with xtrace on
# (each command shows in the test's log before it runs). A guide that builds (`scripts/build
# release`) writes into an overlay over build/, seen only inside the namespace: ctest runs other
# tests beside this one and they exec build/vcdn, which a rebuild in place would relink under
# them (in a working tree where something changed since the last build; in a fresh clone the
# suite has just built it and the guide's build does nothing). A bounded wait for the guide's own
# background servers after it ends; the PID namespace ends any that are left.
unshare --net --mount --pid --fork --mount-proc --propagation private \
  bash -c '
    set -euo pipefail
    ip link set lo up
    mount -t tmpfs -o mode=0755 tmpfs /srv
    mount -t tmpfs -o mode=0755 tmpfs /usr/local/bin
    if [[ -d "$1/build" ]]; then
      mount -t tmpfs -o mode=0700 tmpfs "$3"
      mkdir "$3/upper" "$3/work"
      mount -t overlay overlay -o "lowerdir=$1/build,upperdir=$3/upper,workdir=$3/work" "$1/build"
    fi
    cd "$1"
    PS4="+ guide: "
    set -x
    source "$2"
    set +x
    echo "run_doc.sh: every command of the guide succeeded" >&2
  ' run_doc "$src" "$script" "$overlay"
