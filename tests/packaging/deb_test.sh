#!/usr/bin/env bash
# The Debian package, as an operator installs it: built from this build tree by CPack, then
# `dpkg -i` — in private mount, PID and network namespaces whose /usr, /etc and /var are
# overlays over the machine's (writes vanish with the namespace; the machine is not touched).
# Checks: the package installs with its dependencies, the binary runs, the vcdn user exists,
# /etc/vcdn holds exactly examples/ (conffiles, group vcdn only), every example passes
# --check-config as the vcdn user with the secrets handed over as systemd's LoadCredential=
# would, the units pass `systemd-analyze verify`, the origin runs as vcdn from its example
# config, and `dpkg --purge` removes it all.
#
#   deb_test.sh BUILD_DIR SOURCE_DIR
# Exit: 0 good, 1 a check failed, 2 usage or not root.
set -euo pipefail
if (($# != 2)); then
  echo "usage: deb_test.sh BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
build="$(realpath "$1")"
src="$(realpath "$2")"
if [[ $(id -u) -ne 0 ]]; then
  echo "deb_test.sh: needs root (dpkg, namespaces, mounts)" >&2
  exit 2
fi
work="$(mktemp -d)"
chmod 0711 "$work" # the vcdn user reaches the credentials directory in it
trap 'rm -rf "$work"' EXIT
if ! (cd "$build" && cpack -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1); then
  cat "$work/cpack.log" >&2
  exit 1
fi
deb="$(ls "$work"/pkg/vcdn_*.deb)"
echo "deb_test.sh: built $(basename "$deb") ($(stat -c %s "$deb") bytes)" >&2

unshare --mount --pid --net --fork --mount-proc --propagation private bash -c '
set -euo pipefail
deb="$1"; src="$2"; work="$3"
ip link set lo up
mount -t tmpfs tmpfs "$work/ovl" 2>/dev/null || { mkdir -p "$work/ovl"; mount -t tmpfs tmpfs "$work/ovl"; }
for d in usr etc var; do
  mkdir -p "$work/ovl/$d/up" "$work/ovl/$d/work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$work/ovl/$d/up,workdir=$work/ovl/$d/work" "/$d"
done
mount -t tmpfs -o mode=0755 tmpfs /srv
fail() { echo "deb_test.sh: $*" >&2; exit 1; }
PS4="+ deb: "
set -x

# Install: dependencies are the machine'"'"'s already (dpkg -i does not fetch).
dpkg -i "$deb"
dpkg -s vcdn | grep -qx "Status: install ok installed"
/usr/bin/vcdn --version | grep -q "^vcdn "
getent passwd vcdn | grep -q ":/var/lib/vcdn:/usr/sbin/nologin$"
[[ "$(stat -c "%U:%G %a" /etc/vcdn)" == "root:vcdn 750" ]] || fail "/etc/vcdn: $(stat -c "%U:%G %a" /etc/vcdn)"
[[ "$(stat -c "%U:%G %a" /var/lib/vcdn)" == "vcdn:vcdn 750" ]] || fail "/var/lib/vcdn"
# /etc/vcdn is examples/, file for file, and only its group reads it.
[[ "$(cd /etc/vcdn && ls)" == "$(cd "$src/examples" && ls)" ]] || fail "/etc/vcdn is not examples/"
for f in "$src"/examples/*.toml; do
  cmp "$f" "/etc/vcdn/$(basename "$f")"
  [[ "$(stat -c "%U:%G %a" "/etc/vcdn/$(basename "$f")")" == "root:vcdn 640" ]] || fail "$f mode"
done
[[ "$(dpkg-query -W -f="\${Conffiles}" vcdn | grep -c /etc/vcdn/)" == 4 ]] || fail "conffiles"

# What the examples name, made as an operator would (secrets: group vcdn, 0640).
install -d -m 0750 -g vcdn /etc/vcdn/tls
vcdn cert ca --dir /etc/vcdn/tls/ca >/dev/null
cp /etc/vcdn/tls/ca/ca.pem /etc/vcdn/tls/ca.pem
vcdn cert issue --ca /etc/vcdn/tls/ca --name control.example.net --dns control.example.net \
  --out /etc/vcdn/tls/control >/dev/null
chgrp vcdn /etc/vcdn/tls/*.pem /etc/vcdn/tls/*.key; chmod 0640 /etc/vcdn/tls/*.key
umask 027
printf "o1 %s\n" "$(openssl rand -hex 32)" > /etc/vcdn/origin.keys
openssl rand -hex 16 > /etc/vcdn/admin.token
openssl rand -hex 16 > /etc/vcdn/read.token
openssl rand -hex 16 > /etc/vcdn/edge-main.token
chgrp vcdn /etc/vcdn/origin.keys
chmod 0600 /etc/vcdn/*.token # root only: the units hand them over (LoadCredential=)
install -d -o vcdn -g vcdn /srv/vcdn /srv/vcdn/disk1 /srv/vcdn/disk2
# LoadCredential=: systemd copies each into $CREDENTIALS_DIRECTORY, readable by the service.
cred="$work/credentials"
install -d -m 0500 -o vcdn "$cred"
install -m 0400 -o vcdn /etc/vcdn/edge-main.token "$cred/edge-token"
install -m 0400 -o vcdn /etc/vcdn/admin.token "$cred/admin-token"
install -m 0400 -o vcdn /etc/vcdn/read.token "$cred/read-token"
as_vcdn() { runuser -u vcdn -- "$@"; }
# The vcdn user cannot read the token files themselves, only what the credentials hand over.
! as_vcdn cat /etc/vcdn/admin.token 2>/dev/null
as_vcdn vcdn control --config /etc/vcdn/control.toml --check-config \
  --admin-token-file "$cred/admin-token" --read-token-file "$cred/read-token"
as_vcdn vcdn edge --config /etc/vcdn/edge-main.toml --check-config --token-file "$cred/edge-token"
as_vcdn vcdn catalog make --out /srv/vcdn/origin --titles 1 --bitrates 235 --seconds 2 >/dev/null
as_vcdn vcdn origin --config /etc/vcdn/origin.toml --check-config
# A token on the command line is not a thing: there is no such flag.
! vcdn control --config /etc/vcdn/control.toml --admin-token x --check-config 2>/dev/null

# The units: what systemd-analyze verify finds wrong (the template as an instance).
units="$work/units"; mkdir -p "$units"
cp /usr/lib/systemd/system/vcdn-control.service /usr/lib/systemd/system/vcdn-origin.service "$units/"
cp "/usr/lib/systemd/system/vcdn-edge@.service" "$units/vcdn-edge@main.service"
sed -i "s/%i/main/g" "$units/vcdn-edge@main.service"
out="$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$units"/*.service 2>&1)" || { echo "$out" >&2; fail "systemd-analyze verify"; }
if grep -v -e "^$" <<<"$out" | grep -q .; then echo "$out" >&2; fail "systemd-analyze verify said something"; fi
for u in vcdn-control vcdn-origin "vcdn-edge@"; do
  grep -q "^Type=notify$" "/usr/lib/systemd/system/$u.service"
  grep -q "^User=vcdn$" "/usr/lib/systemd/system/$u.service"
done

# The installed origin runs as vcdn from its example config, on port 8000 of this namespace.
setpriv --reuid vcdn --regid vcdn --init-groups vcdn origin --config /etc/vcdn/origin.toml \
  2>"$work/origin.log" &
origin=$!
code="$(curl -s -o /dev/null --retry 20 --retry-connrefused --retry-delay 1 -w "%{http_code}" http://127.0.0.1:8000/t/1/v-235k.mp4)"
kill -TERM "$origin"; wait "$origin"
[[ "$code" == 403 ]] || { cat "$work/origin.log" >&2; fail "origin answered $code to an unsigned URL"; }

# Purge: binary, units and conffiles go; the user and /var/lib/vcdn (data) stay.
dpkg --purge vcdn
[[ ! -e /usr/bin/vcdn && ! -e /usr/lib/systemd/system/vcdn-control.service ]] || fail "left after purge"
[[ ! -e /etc/vcdn/control.toml ]] || fail "conffiles left after purge"
getent passwd vcdn >/dev/null
set +x
echo "deb_test.sh: package good" >&2
' deb_test "$deb" "$src" "$work"
