#!/usr/bin/env bash
# One syntax on every command line (issue 15.6): durations are written as in
# the configuration files ("30s", "5m", "1h", bare seconds) on every
# duration option, and a malformed one is refused naming the option; `--rvp`
# has one syntax and one help text in `rvp sync` and `verifier serve`; no
# --help names a C function of the library; `vmesh init --help` and the
# top-level help list `init`.
. "$(dirname "$0")/lib.bash"
SRC=${VMESH_SRC:-$(dirname "$0")/../..}
cd "$T"
"$VMESH" keygen --type ec-p256 -o k.pem --pub k.pub >/dev/null || fail keygen
"$VMESH" init mesh >/dev/null || fail "vmesh init"
mkdir -p www st

# durations: the same values in both spellings are accepted ...
for d in 30 30s 1m; do
    expect_exit 0 "rvp sync --interval $d --check" -- "$VMESH" rvp sync --rvp "a,http://127.0.0.1:1,k.pub" --state st --interval "$d" --check
    expect_exit 0 "verifier serve --poll $d --timeout $d --validity $d --check" -- \
        "$VMESH" verifier serve --key k.pem --listen 127.0.0.1:0 --rvp "a,http://127.0.0.1:1,k.pub" --state-dir st \
        --poll "$d" --timeout "$d" --session-ttl "$d" --request-deadline "$d" --validity "$d" --check
done
expect_exit 0 "rvp publish --validity 24h" -- "$VMESH" rvp publish --key mesh/rvp.key --in mesh/rv --out www --validity 24h
expect_exit 0 "rvp publish --validity 3600 (bare seconds)" -- "$VMESH" rvp publish --key mesh/rvp.key --in mesh/rv --out www --validity 3600
"$VMESH" rvp publish --key mesh/rvp.key --in mesh/rv --out www --validity 2h --json >pub.json 2>/dev/null
python3 -c 'import json,sys; d=json.load(open("pub.json")); sys.exit(0 if d["expires_at"]-d["issued_at"]==7200 else 1)' &&
    ok "--validity 2h means 7200 s" || fail "--validity 2h: $(cat pub.json | head -3)"
"$VMESH" ca bundle --ca mesh/ca --format spiffe --refresh-hint 5m >hint.json 2>/dev/null
python3 -c 'import json,sys; sys.exit(0 if json.load(open("hint.json"))["spiffe_refresh_hint"]==300 else 1)' &&
    ok "ca bundle --refresh-hint 5m means 300 s" || fail "--refresh-hint 5m: $(head -c 300 hint.json)"
expect_exit 1 "ca bundle --refresh-hint 1.5m refused" -- "$VMESH" ca bundle --ca mesh/ca --format spiffe --refresh-hint 1.5m
expect_stderr 'refresh-hint must be a duration'
# demo --poll: parsed before the run; an invalid --clients after it stops the demo before it starts
expect_exit 1 "demo sase --poll 2s accepted (then --clients 0 refused)" -- "$VMESH" demo sase --poll 2s --clients 0
expect_stderr 'clients must be'
expect_exit 1 "demo sase --poll 1.5s refused" -- "$VMESH" demo sase --poll 1.5s
expect_stderr 'poll must be a duration'
expect_exit 0 "rvp tick (once) after --every parse" -- "$VMESH" rvp tick --key mesh/rvp.key --out www
# ... and malformed or out-of-range ones are refused, naming the option
for bad in 1.5s 30x -1 0s 500ms 2d ""; do
    expect_exit 1 "rvp sync --interval '$bad' refused" -- "$VMESH" rvp sync --rvp "a,http://127.0.0.1:1,k.pub" --state st --interval "$bad" --check
    expect_stderr 'interval must be a duration'
done
expect_exit 1 "rvp tick --every 2d refused" -- "$VMESH" rvp tick --key mesh/rvp.key --out www --every 2d
expect_stderr 'every must be a duration'
expect_exit 1 "verifier --poll 1.5 refused" -- "$VMESH" verifier serve --key k.pem --poll 1.5 --check
expect_stderr 'poll must be a duration'
expect_exit 1 "appraise --validity 10y refused" -- "$VMESH" appraise --validity 10y
expect_stderr 'validity must be a duration'

# --rvp: the same help text in both commands (both parse it with the sync module)
"$VMESH" rvp sync --help | sed -n '/--rvp SPEC  /,/(repeatable)/p' >sync.rvp
"$VMESH" verifier serve --help | sed -n '/--rvp SPEC  /,/(repeatable)/p' >verifier.rvp
if [ -s sync.rvp ] && cmp -s sync.rvp verifier.rvp; then ok "--rvp help identical: $(head -1 sync.rvp | tr -s ' ')"
else fail "--rvp help differs"; diff sync.rvp verifier.rvp | head; fi
expect_exit 0 "verifier serve takes rvp sync's NAME,URL,KEYFILE,schemes" -- \
    "$VMESH" verifier serve --key k.pem --listen 127.0.0.1:0 --rvp "a,http://127.0.0.1:1,k.pub,psa" --state-dir st --check
expect_exit 0 "rvp sync takes the same" -- "$VMESH" rvp sync --rvp "a,http://127.0.0.1:1,k.pub,psa" --state st --check

# no help text names a C function of the library
grep -ohE '\bvmesh_[a-z0-9_]+ *\(' "$SRC"/include/vmesh/*.h | tr -d ' (' | sort -u >funcs
[ "$(wc -l <funcs)" -gt 100 ] || fail "only $(wc -l <funcs) functions found in the headers"
helps=0
for c in "" init keygen "attest psa-sim" appraise ca "ca init" ear server client proxy ipsec rvp "rvp publish" \
         "rvp serve" "rvp sync" "rvp tick" "verifier serve" dashboard "demo sase" "demo ipsec"; do
    # shellcheck disable=SC2086
    "$VMESH" $c --help >help.txt 2>&1
    helps=$((helps + 1))
    if grep -owFf funcs help.txt >hit.txt; then fail "vmesh $c --help names a C function: $(sort -u hit.txt | tr '\n' ' ')"; fi
done
ok "$helps help texts checked for C function names"
"$VMESH" --help | grep -q '^  init ' && ok "vmesh --help lists init" || fail "init not in vmesh --help"
"$VMESH" init --help | grep -q 'exit codes' && ok "vmesh init --help documents exit codes" || fail "init help: no exit codes"
# Every command's --help documents its exit status (issue 15.6).
nh=0
for c in init keygen "attest psa-sim" appraise ear ca server client proxy ipsec rvp "rvp publish" "rvp serve" \
         "rvp sync" "rvp tick" "verifier serve" dashboard demo "demo sase" "demo ipsec"; do
    # shellcheck disable=SC2086
    "$VMESH" $c --help >help.txt 2>&1
    nh=$((nh + 1))
    grep -qiE 'exit (status|code)' help.txt || fail "vmesh $c --help does not document its exit status"
done
ok "$nh help texts checked for an exit status section"
# ipsec and client/server duration options (issue 15.6): 5m accepted, 500ms / ten refused naming the option.
for o in --poll --retry --rekey --ak-rotate; do
    "$VMESH" ipsec $o ten run >out.txt 2>&1; rc=$?
    [ $rc -eq 1 ] && grep -q -- "$o: invalid duration \"ten\"" out.txt && ok "ipsec $o ten refused: $(head -1 out.txt)" \
        || fail "ipsec $o ten: exit $rc $(head -2 out.txt)"
    "$VMESH" ipsec $o 5m --help >out.txt 2>&1 && ok "ipsec $o 5m accepted" || fail "ipsec $o 5m: $(head -2 out.txt)"
done
for c in client server; do
    "$VMESH" $c --ak-rotate 500ms >out.txt 2>&1; rc=$?
    [ $rc -eq 1 ] && grep -q -- '--ak-rotate: invalid duration "500ms"' out.txt && ok "$c --ak-rotate 500ms refused" \
        || fail "$c --ak-rotate 500ms: exit $rc $(head -2 out.txt)"
    "$VMESH" $c --ak-rotate 1h --help >out.txt 2>&1 && ok "$c --ak-rotate 1h accepted" || fail "$c --ak-rotate 1h: $(head -2 out.txt)"
done
finish
