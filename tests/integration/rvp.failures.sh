#!/usr/bin/env bash
# Trust-bundle failures (DESIGN §5, docs/BUNDLES.md): an older manifest
# replayed, a manifest signed by another key, a set whose digest does not
# match, a truncated set, the RVP unreachable — each refused or survived with
# one clear log line, the last good snapshot kept. Every `vmesh rvp sync
# --once` is a fresh process, so each step also shows that a restart loads
# the persisted snapshot; the last one does it with the server stopped.
# Also: publishing an epoch that is not above the published one is refused.
. "$(dirname "$0")/lib.bash"

"$VMESH" keygen --type ec-p256 -o "$T/rvp.pem" --pub "$T/rvp.pub" >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" keygen --type ec-p256 -o "$T/evil.pem" --pub "$T/evil.pub" >/dev/null || exit 1
mkdir -p "$T/in" "$T/www"
rv() { # rv VERSION: RV JSON for psa with a digest ending in VERSION (same length every time)
    cat >"$T/in/rv.json" <<EOF
{"format": "vmesh-rv/1", "reference-values": [{"scheme": "psa", "class-id": "text:acme-impl-1",
 "measurements": [{"name": "BL", "digest": {"alg": "sha-256", "value": "$(printf '%064d' "$1")"}}]}]}
EOF
}
rv 1
echo '{"format": "vmesh-policy/1", "id": "policy:acme"}' >"$T/in/policy.json"

expect_exit 0 "publish epoch 1" -- "$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/in" --out "$T/www" --name acme
grep -q "published acme epoch 1: 2 sets" "$T/out" && ok "publish reports epoch 1 with 2 sets" || fail "publish output: $(cat "$T/out")"
cp "$T/www/manifest.jws" "$T/m1.jws"

"$VMESH" rvp serve --root "$T/www" --listen 127.0.0.1:0 >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
cleanup_hooks+=("kill $SERVER 2>/dev/null")
for _ in $(seq 50); do grep -q "listening on" "$T/serve.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(awk '/listening on/ {print $3}' "$T/serve.out")
[ -n "$PORT" ] || { echo "server did not start: $(cat "$T/serve.err")"; exit 1; }
URL="http://127.0.0.1:$PORT"

sync_once() { "$VMESH" rvp sync --rvp "acme,$URL,$T/rvp.pub,psa" --state "$T/state" --once --json; }
epoch() { json_get "$T/out" 'd["epochs"].get("acme", 0)'; }
check_epoch() { local e; e=$(epoch); [ "$e" = "$1" ] && ok "$2: snapshot at epoch $1" || fail "$2: snapshot at epoch $e, expected $1"; }

expect_exit 0 "first sync" -- sync_once
check_epoch 1 "first sync"
[ "$(json_get "$T/out" 'd["size"]')" = 1 ] && ok "one reference value" || fail "size $(json_get "$T/out" 'd["size"]')"

rv 2
expect_exit 0 "publish epoch 2" -- "$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/in" --out "$T/www"
cp "$T/www/manifest.jws" "$T/m2.jws"
expect_exit 0 "sync epoch 2" -- sync_once
check_epoch 2 "sync"

# 1. Rollback: the epoch-1 manifest replayed into the served directory.
cp "$T/m1.jws" "$T/www/manifest.jws"
expect_exit 1 "replayed epoch-1 manifest" -- sync_once
expect_stderr "rvp acme: manifest epoch 1 is older than the current 2: rollback refused"
check_epoch 2 "after the rollback attempt"
cp "$T/m2.jws" "$T/www/manifest.jws"

# 2. Bad signature: a manifest for acme signed with another key.
mkdir -p "$T/evil-www"
"$VMESH" rvp publish --key "$T/evil.pem" --in "$T/in" --out "$T/evil-www" --name acme --epoch 9 >/dev/null
cp "$T/evil-www/manifest.jws" "$T/www/manifest.jws"
expect_exit 1 "manifest signed by another key" -- sync_once
expect_stderr "rvp acme: manifest refused: manifest signature: .*keeping epoch 2"
check_epoch 2 "after the bad signature"
# ... and a flipped byte in the signature of a genuine one.
python3 - "$T/m2.jws" "$T/www/manifest.jws" <<'PY'
import sys
s = open(sys.argv[1]).read()
i = len(s) - 10
s = s[:i] + ('A' if s[i] != 'A' else 'B') + s[i + 1:]
open(sys.argv[2], 'w').write(s)
PY
expect_exit 1 "manifest with a damaged signature" -- sync_once
expect_stderr "rvp acme: manifest refused: manifest signature"
check_epoch 2 "after the damaged signature"
cp "$T/m2.jws" "$T/www/manifest.jws"

# 3. Digest mismatch: epoch 3 whose RV set is replaced by other bytes of the same length.
rv 3
expect_exit 0 "publish epoch 3" -- "$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/in" --out "$T/www" --json
SET=$(json_get "$T/out" '[s["path"] for s in d["sets"] if s["kind"] == "rv-json"][0]')
cp "$T/www/$SET" "$T/good-set"
rv 4
cp "$T/in/rv.json" "$T/www/$SET"
expect_exit 1 "set with the wrong digest" -- sync_once
expect_stderr "rvp acme: manifest epoch 3 refused: set $SET digest mismatch: its bytes hash to [0-9a-f]{64}; keeping epoch 2"
check_epoch 2 "after the digest mismatch"

# 4. Truncated set.
head -c 40 "$T/good-set" >"$T/www/$SET"
expect_exit 1 "truncated set" -- sync_once
expect_stderr "rvp acme: manifest epoch 3 refused: set $SET is 40 bytes, the manifest says [0-9]+ \(truncated\?\); keeping epoch 2"
check_epoch 2 "after the truncated set"

# Repaired on the server: the same manifest now goes through.
cp "$T/good-set" "$T/www/$SET"
expect_exit 0 "sync after the repair" -- sync_once
check_epoch 3 "after the repair"

# Publishing never goes down.
expect_exit 1 "publish --epoch 2 over epoch 3" -- "$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/in" --out "$T/www" --epoch 2
expect_stderr "epoch 2 is not above the published epoch 3"
expect_exit 1 "publish --epoch 3 over epoch 3" -- "$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/in" --out "$T/www" --epoch 3
expect_stderr "epoch 3 is not above the published epoch 3: an RVP's epochs only go up"
expect_exit 1 "another key cannot continue the bundle" -- "$VMESH" rvp publish --key "$T/evil.pem" --in "$T/in" --out "$T/www"
expect_stderr "cannot be continued"

# Epoch 4 valid for 4 seconds only (for the staleness check below).
expect_exit 0 "publish epoch 4, valid 4 s" -- "$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/in" --out "$T/www" --validity 4
expect_exit 0 "sync epoch 4" -- sync_once
check_epoch 4 "sync"
[ "$(json_get "$T/out" 'd["stale"]')" = False ] && ok "epoch 4 is fresh" || fail "epoch 4 stale too early"

# 5. RVP unreachable: the server stopped. A restart (this new process)
# loads the persisted snapshot, the poll fails, epoch 4 stays; once its
# manifest is past expires_at the snapshot is marked stale (results then
# carry a sourced-data warning).
kill "$SERVER"; wait "$SERVER" 2>/dev/null
sleep 4.2
expect_exit 1 "sync with the RVP down" -- sync_once
expect_stderr "rvp acme: unreachable or failing: GET $URL/manifest.jws: .*keeping epoch 4"
expect_stderr "trust bundle is stale \\(a manifest is past its expires_at\\)"
check_epoch 4 "restart with the RVP down"
[ "$(json_get "$T/out" 'd["snapshot"] and d["size"] == 1 and d["stale"] and d["rvps"][0]["failures"] == 1')" = True ] \
    && ok "persisted snapshot served: 1 entry, stale, 1 failure counted" || fail "status: $(cat "$T/out")"

# Nothing of the refused epochs reached the state directory.
n=$(ls "$T/state/sets" | wc -l)
[ "$n" = 2 ] && ok "state holds exactly the 2 sets of epoch 4" || fail "state holds $n sets: $(ls "$T/state/sets")"
finish
