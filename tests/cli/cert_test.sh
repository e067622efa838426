#!/usr/bin/env bash
# vcdn cert: a CA and a certificate that OpenSSL verifies for exactly the names and addresses
# asked for; private keys 0600; nothing is ever replaced; bad requests are exit 2 with one line.
#   cert_test.sh VCDN
set -euo pipefail
vcdn="$1"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
fail() { echo "cert_test: $*" >&2; exit 1; }

"$vcdn" cert ca --dir "$dir/ca" >/dev/null
"$vcdn" cert issue --ca "$dir/ca" --name control --dns control.example.net --ip 127.0.0.1 \
  --ip ::1 --out "$dir/control" >/dev/null
[[ $(stat -c %a "$dir/ca/ca.key") == 600 ]] || fail "ca.key is not 0600"
[[ $(stat -c %a "$dir/control.key") == 600 ]] || fail "control.key is not 0600"
# The first certificate of the chain, checked as a client would check it.
openssl x509 -in "$dir/control.pem" -out "$dir/leaf.pem"
openssl verify -CAfile "$dir/ca/ca.pem" -verify_hostname control.example.net "$dir/leaf.pem" >/dev/null \
  || fail "not valid for its DNS name"
openssl verify -CAfile "$dir/ca/ca.pem" -verify_ip 127.0.0.1 "$dir/leaf.pem" >/dev/null \
  || fail "not valid for its address"
if openssl verify -CAfile "$dir/ca/ca.pem" -verify_hostname other.example.net "$dir/leaf.pem" >/dev/null 2>&1; then
  fail "valid for a name it was not issued for"
fi
# A certificate of another CA does not verify against this one.
"$vcdn" cert ca --dir "$dir/ca2" >/dev/null
if openssl verify -CAfile "$dir/ca2/ca.pem" "$dir/leaf.pem" >/dev/null 2>&1; then
  fail "verifies against a CA that did not sign it"
fi
# The key matches the certificate.
[[ "$(openssl pkey -in "$dir/control.key" -pubout)" == "$(openssl x509 -in "$dir/leaf.pem" -noout -pubkey)" ]] \
  || fail "key and certificate do not match"

# Never replaced: the same command again fails with exit 1 and leaves the files as they were.
before="$(sha256sum "$dir/control.pem" "$dir/control.key")"
set +e
err="$("$vcdn" cert issue --ca "$dir/ca" --name control --dns x --out "$dir/control" 2>&1 >/dev/null)"
rc=$?
set -e
[[ $rc -eq 1 && $err == *"exists"* ]] || fail "reissue over existing files: rc=$rc err=$err"
[[ "$(sha256sum "$dir/control.pem" "$dir/control.key")" == "$before" ]] || fail "files changed"
# Only the certificate left (its key lost): still refused, and no new key appears beside it.
rm "$dir/control.key"
set +e
"$vcdn" cert issue --ca "$dir/ca" --name control --dns x --out "$dir/control" 2>/dev/null
rc=$?
set -e
[[ $rc -eq 1 && ! -e "$dir/control.key" ]] || fail "a half pair was completed: rc=$rc"
set +e
"$vcdn" cert ca --dir "$dir/ca" 2>/dev/null
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "a CA was replaced: rc=$rc"

# Bad requests: exit 2, one line naming the problem.
check_bad() {
  local want="$1"; shift
  set +e
  local err
  err="$("$vcdn" cert issue --ca "$dir/ca" --out "$dir/bad" "$@" 2>&1 >/dev/null)"
  local rc=$?
  set -e
  [[ $rc -eq 2 && $err == *"$want"* && $(wc -l <<<"$err") -eq 1 ]] || fail "$*: rc=$rc err=$err"
  [[ ! -e "$dir/bad.key" && ! -e "$dir/bad.pem" ]] || fail "$*: wrote files"
}
check_bad "is not an IP address" --name n --ip 300.1.1.1
check_bad "letters, digits" --name n --dns 'a,DNS:evil.example'
check_bad "at least one DNS name" --name n
echo "cert_test: ok"
