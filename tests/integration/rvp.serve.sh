#!/usr/bin/env bash
# `vmesh rvp serve`: strong ETags (the quoted SHA-256 of the file),
# If-None-Match -> 304 (weak comparison, lists, *), Cache-Control per path,
# GET/HEAD only, no directory listing, nothing outside the root (dot-dot,
# encoded dot-dot, symlinks, hidden files).
. "$(dirname "$0")/lib.bash"

"$VMESH" keygen --type ec-p256 -o "$T/rvp.pem" --pub "$T/rvp.pub" >/dev/null || exit 1
mkdir -p "$T/in" "$T/www"
echo '{"format": "vmesh-policy/1", "id": "policy:serve"}' >"$T/in/policy.json"
"$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/in" --out "$T/www" >/dev/null || { echo "publish failed"; exit 1; }
echo secret >"$T/outside.txt"
ln -s "$T/outside.txt" "$T/www/link.txt"
ln -s "$T" "$T/www/up"
echo hidden >"$T/www/.hidden"

"$VMESH" rvp serve --root "$T/www" --listen 127.0.0.1:0 >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
cleanup_hooks+=("kill $SERVER 2>/dev/null")
for _ in $(seq 50); do grep -q "listening on" "$T/serve.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(awk '/listening on/ {print $3}' "$T/serve.out")
[ -n "$PORT" ] || { echo "server did not start: $(cat "$T/serve.err")"; exit 1; }
U="http://127.0.0.1:$PORT"

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
expect_code() { local want=$1 what=$2; shift 2; local got; got=$(code "$@"); [ "$got" = "$want" ] && ok "$what: $got" || fail "$what: $got, expected $want"; }

SUM=$(sha256sum "$T/www/manifest.jws" | cut -d' ' -f1)
curl -s -D "$T/h" -o "$T/body" "$U/manifest.jws"
tr -d '\r' <"$T/h" >"$T/headers"
grep -qx "ETag: \"$SUM\"" "$T/headers" && ok "ETag is the quoted SHA-256 of the file" || fail "ETag: $(grep -i etag "$T/headers")"
grep -qx "Cache-Control: no-cache" "$T/headers" && ok "manifest: Cache-Control no-cache" || fail "manifest Cache-Control"
grep -qx "Content-Type: application/jose" "$T/headers" && ok "manifest: application/jose" || fail "manifest Content-Type"
cmp -s "$T/body" "$T/www/manifest.jws" && ok "body is the file" || fail "body differs"
expect_code 304 "If-None-Match with the ETag" -H "If-None-Match: \"$SUM\"" "$U/manifest.jws"
expect_code 304 "If-None-Match weak form (W/)" -H "If-None-Match: W/\"$SUM\"" "$U/manifest.jws"
expect_code 304 "If-None-Match list" -H "If-None-Match: \"abc\", \"$SUM\"" "$U/manifest.jws"
expect_code 304 "If-None-Match *" -H "If-None-Match: *" "$U/manifest.jws"
expect_code 200 "If-None-Match with another tag" -H "If-None-Match: \"0$SUM\"" "$U/manifest.jws"
[ -z "$(curl -s -H "If-None-Match: \"$SUM\"" "$U/manifest.jws")" ] && ok "304 has no body" || fail "304 with a body"

SET=$(ls "$T/www/sets" | head -1)
curl -s -D - -o /dev/null "$U/sets/$SET" | tr -d '\r' >"$T/sh"
grep -qx "Cache-Control: public, max-age=31536000, immutable" "$T/sh" && ok "sets: immutable" || fail "sets Cache-Control: $(cat "$T/sh")"
grep -qx "ETag: \"$SET\"" "$T/sh" && ok "a set's ETag is its name" || fail "set ETag"
expect_code 200 "HEAD" -I "$U/manifest.jws"
[ -z "$(curl -s -I "$U/manifest.jws" -o /dev/null -w '%{size_download}' | tr -d 0)" ] && ok "HEAD has no body" || fail "HEAD body"

expect_code 405 "POST refused" -X POST --data x "$U/manifest.jws"
expect_code 405 "PUT refused" -X PUT --data x "$U/manifest.jws"
expect_code 405 "DELETE refused" -X DELETE "$U/manifest.jws"
curl -s -D - -o /dev/null -X POST "$U/manifest.jws" | tr -d '\r' | grep -qx "Allow: GET, HEAD" && ok "405 names GET, HEAD" || fail "Allow header"
expect_code 404 "no listing of /" "$U/"
expect_code 404 "no listing of /sets" "$U/sets"
expect_code 400 "no listing of /sets/" "$U/sets/"
expect_code 400 "dot-dot refused" --path-as-is "$U/sets/../manifest.jws"
expect_code 400 "encoded dot-dot refused" --path-as-is "$U/sets/%2e%2e/manifest.jws"
expect_code 400 "hidden file refused" "$U/.hidden"
expect_code 400 "double slash refused" --path-as-is "$U//manifest.jws"
expect_code 404 "symlinked file not followed" "$U/link.txt"
expect_code 404 "symlinked directory not followed" "$U/up/outside.txt"
expect_code 404 "missing file" "$U/nope.jws"
expect_exit 1 "serve refuses a bad listen address" -- "$VMESH" rvp serve --root "$T/www" --listen nowhere
expect_stderr "expected HOST:PORT"
finish
