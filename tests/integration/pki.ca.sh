#!/usr/bin/env bash
# `vmesh ca`: init a CA, issue an X509-SVID, print the bundle; the SVID
# verifies with openssl against the bundle and carries exactly the SPIFFE ID;
# bad input is refused with an actionable message.
set -u
[ -x "${VMESH_BIN:-}" ] || { echo "VMESH_BIN not set"; exit 77; }
command -v openssl >/dev/null || { echo "openssl missing"; exit 77; }
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$VMESH_BIN" ca init --trust-domain example.org --out "$d/ca" >"$d/out" || fail "init"
grep -q "spiffe://example.org" "$d/out" || fail "init output"
[ "$(stat -c %a "$d/ca/ca.key")" = 600 ] || fail "ca.key mode"
"$VMESH_BIN" ca init --trust-domain example.org --out "$d/ca" 2>"$d/err" && fail "overwrite allowed"
grep -q "refusing to overwrite" "$d/err" || fail "overwrite message: $(cat "$d/err")"

"$VMESH_BIN" ca issue --ca "$d/ca" --spiffe-id spiffe://example.org/ns/x/sa/y --out "$d/svc" --days 3 \
    || fail "issue"
[ "$(stat -c %a "$d/svc.key")" = 600 ] || fail "svc.key mode"
openssl verify -CAfile "$d/ca/bundle.pem" -purpose sslclient "$d/svc.pem" >/dev/null || fail "verify client"
openssl verify -CAfile "$d/ca/bundle.pem" -purpose sslserver "$d/svc.pem" >/dev/null || fail "verify server"
openssl x509 -in "$d/svc.pem" -noout -ext subjectAltName | grep -q "URI:spiffe://example.org/ns/x/sa/y" \
    || fail "SAN"
openssl x509 -in "$d/svc.pem" -noout -ext basicConstraints | grep -q "CA:FALSE" || fail "CA:FALSE"
[ "$(grep -c BEGIN "$d/svc-chain.pem")" = 2 ] || fail "chain"

"$VMESH_BIN" ca issue --ca "$d/ca" --spiffe-id spiffe://other.org/a --out "$d/o" 2>"$d/err" && fail "foreign TD"
grep -q 'trust domain "other.org"' "$d/err" || fail "foreign TD message: $(cat "$d/err")"
"$VMESH_BIN" ca issue --ca "$d/ca" --spiffe-id spiffe://example.org/a/../b --out "$d/o" 2>"$d/err" && fail "dot seg"
grep -q "'..'" "$d/err" || fail "dot message: $(cat "$d/err")"
"$VMESH_BIN" ca issue --ca "$d/ca" --spiffe-id spiffe://example.org/a --out "$d/o" --days 0 2>/dev/null && fail "days 0"

"$VMESH_BIN" ca bundle --ca "$d/ca" >"$d/b.pem" || fail "bundle"
cmp -s "$d/b.pem" "$d/ca/bundle.pem" || fail "bundle content"
echo ok
