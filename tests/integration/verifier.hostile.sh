#!/usr/bin/env bash
# The central verifier against hostile clients (issue 12.6), real processes on
# loopback. Attackers (tests/integration/helpers/verifier_attack.py) and a
# legitimate client each use their own 127.x source address:
#   1. one address opens 1,100 sockets and trickles a header byte a second on
#      each (slowloris): the verifier keeps at most its per-client limit, closes
#      those past the request deadline before the request is complete, and the
#      legitimate client on 127.0.0.2 completes verifications meanwhile;
#   2. an idle flood of 1,100 sockets over 70 addresses (over the verifier's
#      connection limit): the excess is closed at accept and counted, the rest
#      is closed at the deadline, then the legitimate client is served again;
#   3. a request flood from one address: 429 with Retry-After, while the
#      legitimate client still gets 200s;
#   3b. the same at the one-request appraisal (POST /vmesh/v1/appraise, D42):
#      429 with Retry-After, while the legitimate client's one-request
#      verifications still get their EAR;
#   4. an oversize body (declared, and chunked; to a session and to the
#      one-request appraisal): 413 before the body is read;
#   5. the verifier's open fds return to their count before the attacks and
#      its RSS is printed (peak and after) and bounded.
# No timing thresholds: times are printed; the properties are counts.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/verifier-lib.bash"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
ATTACK="python3 $(dirname "$0")/helpers/verifier_attack.py"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

PER_CLIENT=16 DEADLINE=3 RATE=20 MAXCONN=1024
start_verifier V --key "$T/ear.pem" --rv "$T/rv.json" --threads 2 --max-connections $MAXCONN \
    --client-connections $PER_CLIENT --request-deadline $DEADLINE --client-rate $RATE --client-burst $RATE \
    --max-body 65536
PID=$PID_V PORT=$PORT_V
BASE="http://127.0.0.1:$PORT"

nfd() { ls /proc/$PID/fd 2>/dev/null | wc -l; }
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$PID/status; }
metric() { curl -s --interface 127.0.0.3 "$BASE/metrics" | sed -n "s/^$1 //p" | head -1; }
refused() { curl -s --interface 127.0.0.3 "$BASE/metrics" | sed -n "s/^vmesh_verifier_refused_total{reason=\"$1\"} //p"; }
# A sampler in the background during each attack: fds, RSS (kB), open connections.
sampler_start() { ( while kill -0 "$PID" 2>/dev/null; do echo "$(nfd) $(rss) $(metric vmesh_verifier_connections)"; sleep 0.3; done ) >>"$T/samples.$1" & SPID=$!; cleanup_hooks+=("kill $SPID 2>/dev/null"); }
sampler_stop() { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }
peak() { awk -v c="$2" '$c ~ /^[0-9]+$/ && $c > m { m = $c } END { print m + 0 }' $T/samples.$1; }

summary() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d.pop("closed_later"); d["closed_later"]="n=%d median=%s max=%s" % (len(c), c[len(c)//2] if c else "-", c[-1] if c else "-"); print(json.dumps(d))' "$1"; }

# verify SRC: one Veraison verification from source address SRC; prints the
# status of the evidence POST and the seconds it took.
verify() {
    local src=$1 t0 t1 nonce
    t0=$(date +%s.%N)
    req ns --interface "$src" -X POST -H "Accept: $SESSION_MT" "$BASE$API/newSession?nonceSize=32"
    if [ "$(code ns)" != 201 ]; then echo "newSession=$(code ns)"; return; fi
    nonce=$(b64url_hex "$(json_get "$T/ns.body" "d['nonce']")")
    evidence "$nonce" "$T/token.cose"
    req ev --interface "$src" -X POST -H "Accept: $SESSION_MT" -H "Content-Type: $PSA_MT" \
        --data-binary @"$T/token.cose" "$BASE$API/$(hdr ns Location)"
    t1=$(date +%s.%N)
    printf '%s %.2fs\n' "$(code ev)" "$(echo "$t1 - $t0" | bc)"
}

# verify1 SRC: one verification with the one-request appraisal (D42).
verify1() {
    local src=$1 t0 t1 nonce
    t0=$(date +%s.%N)
    nonce=$(openssl rand -hex 32)
    evidence "$nonce" "$T/token1.cose"
    req os --interface "$src" -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/token1.cose" \
        "$BASE/vmesh/v1/appraise?nonce=$(python3 -c 'import base64,sys; print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$nonce")"
    t1=$(date +%s.%N)
    printf '%s %.2fs\n' "$(code os)" "$(echo "$t1 - $t0" | bc)"
}

sleep 0.5
FD0=$(nfd) RSS0=$(rss)
[ -n "$RSS0" ] || { echo "cannot read VmRSS of $PID"; exit 1; }
echo "verifier pid $PID port $PORT: $FD0 fds, RSS $RSS0 kB before the attacks"
r=$(verify 127.0.0.2)
[ "${r%% *}" = 200 ] && ok "legitimate verification from 127.0.0.2 before the attacks: $r" || fail "baseline verification: $r"

# ---- 1. slowloris, 1,100 sockets from one address, reopened as they are closed, for 30 s
ATTACK_S=20
sampler_start 1
$ATTACK hold --port "$PORT" --src 127.0.0.10 --n 1100 --trickle --reopen --max-seconds $ATTACK_S >"$T/a1.json" &
APID=$!
cleanup_hooks+=("kill $APID 2>/dev/null")
sleep 1
good=0 res=""
for i in 1 2 3; do
    r=$(verify 127.0.0.2); res="$res [$r]"
    [ "${r%% *}" = 200 ] && good=$((good + 1))
done
wait $APID
sampler_stop
echo "  slowloris from 127.0.0.10: $(summary "$T/a1.json")"
echo "  legitimate client during it:$res"
[ "$good" = 3 ] && ok "3/3 verifications from 127.0.0.2 completed during the one-address slowloris flood" \
    || fail "$good/3 verifications completed during the slowloris flood:$res"
# connections open at the verifier, sampled: the attacker's, the legitimate client's, the scrape
maxconn=$(peak 1 3)
[ "$maxconn" -le $((PER_CLIENT + 3)) ] && ok "open connections at the verifier stayed <= $PER_CLIENT + 3 during it (sampled max $maxconn)" \
    || fail "open connections sampled $maxconn > $PER_CLIENT + 3"
read -r opened later oldest bytes < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["closed_later"]; print(d["opened"], len(c), c[-1] if c else 0, d["bytes_max"])' "$T/a1.json")
# A trickler that lived as long as the attack would mean the deadline never fired.
[ "$later" -ge $PER_CLIENT ] && python3 -c "import sys; sys.exit(0 if $oldest < $ATTACK_S - 1 else 1)" \
    && ok "trickling sockets closed by the verifier mid-request: $later (oldest $oldest s of a $ATTACK_S s attack; at most $bytes header bytes sent, never a whole request)" \
    || fail "trickling sockets closed mid-request: $later, oldest $oldest s of $ATTACK_S s"
rc=$(refused client-connections) rd=$(refused deadline)
echo "  refused: client-connections $rc, deadline $rd"
[ "${rc:-0}" -ge $((1100 - PER_CLIENT)) ] && ok "refusals over the per-client limit counted: $rc >= $((1100 - PER_CLIENT))" \
    || fail "vmesh_verifier_refused_total{reason=\"client-connections\"} = $rc"
[ "${rd:-0}" -ge 1 ] && ok "closes at the request deadline counted: $rd" || fail "deadline refusals = $rd"

# ---- 2. idle flood over 70 addresses, more than the verifier's connection limit
sampler_start 2
SRCS=$(seq -s, -f '127.0.1.%g' 1 70)
$ATTACK hold --port "$PORT" --src "$SRCS" --n $PER_CLIENT --max-seconds 60 >"$T/a2.json" &
APID=$!
cleanup_hooks+=("kill $APID 2>/dev/null")
sleep 1
during=$(verify 127.0.0.2)
wait $APID
sampler_stop
echo "  idle flood over 70 addresses: $(summary "$T/a2.json")"
echo "  legitimate client during it (may be refused while the connection limit is full): $during"
read -r opened still < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["opened"], d["still_open"])' "$T/a2.json")
[ "$still" = 0 ] && ok "all $opened idle sockets closed by the verifier (at accept or at the deadline)" \
    || fail "$still idle sockets still open after 60 s"
rcn=$(refused connections)
[ "${rcn:-0}" -ge 1 ] && ok "connections over the verifier's limit of $MAXCONN refused and counted: $rcn" \
    || fail "no refusal over the connection limit counted (opened $opened)"
r=$(verify 127.0.0.2)
[ "${r%% *}" = 200 ] && ok "legitimate verification after the idle flood: $r" || fail "verification after the idle flood: $r"

# ---- 3. request flood from one address
sampler_start 3
$ATTACK flood --port "$PORT" --src 127.0.0.12 --n 300 >"$T/a3.json" &
APID=$!
cleanup_hooks+=("kill $APID 2>/dev/null")
good=0 res=""
for i in 1 2 3; do r=$(verify 127.0.0.2); res="$res [$r]"; [ "${r%% *}" = 200 ] && good=$((good + 1)); done
wait $APID
sampler_stop
echo "  request flood from 127.0.0.12: $(cat "$T/a3.json"); legitimate client:$res"
n429=$(json_get "$T/a3.json" "d['status'].get('429', 0)")
ra=$(json_get "$T/a3.json" "','.join(d['retry_after'])")
[ "$n429" -ge 1 ] && ok "request flood answered by 429 ($n429 of 300)" || fail "no 429 in the request flood"
[ -n "$ra" ] && ! echo "$ra" | grep -q missing && ok "every 429 carries Retry-After (values: $ra)" || fail "Retry-After: '$ra'"
[ "$good" = 3 ] && ok "3/3 verifications from 127.0.0.2 during the flood from 127.0.0.12" || fail "$good/3 during the request flood:$res"
r429=$(refused client-rate)
[ "${r429:-0}" -ge "$n429" ] && ok "429s counted: vmesh_verifier_refused_total{reason=\"client-rate\"} $r429" || fail "client-rate count $r429 < $n429"

# ---- 3b. request flood at the one-request appraisal
sleep 2 # the flood's budget refills
r429_0=$(refused client-rate)
$ATTACK flood --port "$PORT" --src 127.0.0.15 --n 300 --method POST --path /vmesh/v1/appraise >"$T/a3b.json" &
APID=$!
cleanup_hooks+=("kill $APID 2>/dev/null")
good=0 res=""
for i in 1 2 3; do r=$(verify1 127.0.0.2); res="$res [$r]"; [ "${r%% *}" = 200 ] && good=$((good + 1)); done
wait $APID
echo "  one-request flood from 127.0.0.15: $(cat "$T/a3b.json"); legitimate one-request client:$res"
n429=$(json_get "$T/a3b.json" "d['status'].get('429', 0)")
n400=$(json_get "$T/a3b.json" "d['status'].get('400', 0)")
ra=$(json_get "$T/a3b.json" "','.join(d['retry_after'])")
[ "$n429" -ge 1 ] && [ "$n400" -ge 1 ] && ok "one-request flood: 400 (no nonce) until the budget ran out, then 429 ($n429 of 300)" \
    || fail "one-request flood: $(cat "$T/a3b.json")"
[ -n "$ra" ] && ! echo "$ra" | grep -q missing && ok "every 429 there carries Retry-After (values: $ra)" || fail "Retry-After: '$ra'"
[ "$good" = 3 ] && ok "3/3 one-request verifications from 127.0.0.2 during it" || fail "$good/3 one-request during the flood:$res"
r429=$(refused client-rate)
[ $((r429 - r429_0)) -ge "$n429" ] && ok "counted: client-rate refusals $r429_0 -> $r429" || fail "client-rate count $r429_0 -> $r429 < +$n429"

# ---- 4. oversize bodies
$ATTACK big --port "$PORT" --src 127.0.0.13 --declare 100000000 >"$T/a4.json"
[ "$(json_get "$T/a4.json" "d['status']")" = 413 ] && ok "declared 100 MB body: 413 before a byte of it was sent" \
    || fail "declared oversize body: $(cat "$T/a4.json")"
head -c 200000 /dev/zero >"$T/big.bin"
req ch --interface 127.0.0.14 -X POST -H 'Transfer-Encoding: chunked' -H "Content-Type: $PSA_MT" \
    --data-binary @"$T/big.bin" "$BASE$API/session/x"
[ "$(code ch)" = 413 ] && ok "chunked 200 kB body over the 64 kB cap: 413" || fail "chunked oversize: $(code ch)"
$ATTACK big --port "$PORT" --src 127.0.0.16 --declare 100000000 --path "/vmesh/v1/appraise?nonce=AAAAAAAAAAAAAAAAAAAAAA" >"$T/a4b.json"
[ "$(json_get "$T/a4b.json" "d['status']")" = 413 ] && ok "one-request appraisal: declared 100 MB body: 413 before a byte of it was sent" \
    || fail "one-request declared oversize body: $(cat "$T/a4b.json")"
req chb --interface 127.0.0.17 -X POST -H 'Transfer-Encoding: chunked' -H "Content-Type: $PSA_MT" \
    --data-binary @"$T/big.bin" "$BASE/vmesh/v1/appraise?nonce=AAAAAAAAAAAAAAAAAAAAAA"
[ "$(code chb)" = 413 ] && ok "one-request appraisal: chunked 200 kB body: 413" || fail "one-request chunked oversize: $(code chb)"
rb=$(refused body-too-large)
[ "${rb:-0}" -ge 4 ] && ok "oversize bodies counted: $rb" || fail "body-too-large count $rb"

# ---- 5. resources
PEAK_FD=$(cat $T/samples.* | awk '$1 > m { m = $1 } END { print m + 0 }')
PEAK_RSS=$(cat $T/samples.* | awk '$2 > m { m = $2 } END { print m + 0 }')
fd1=$(nfd)
for i in $(seq 100); do [ "$fd1" -le "$FD0" ] && break; sleep 0.2; fd1=$(nfd); done
RSS1=$(rss)
echo "  fds: before $FD0, peak sampled $PEAK_FD, after $fd1; RSS kB: before $RSS0, peak sampled $PEAK_RSS, after $RSS1"
[ "$fd1" -le "$FD0" ] && ok "the verifier's fds are back to $FD0 after the attacks (now $fd1)" || fail "fds $fd1 > $FD0 after the attacks"
[ "$PEAK_FD" -le $((FD0 + MAXCONN + 64)) ] && ok "fds never over the connection limit plus slack (peak sampled $PEAK_FD)" \
    || fail "peak fds $PEAK_FD"
# 64 KiB per connection (MHD's memory limit) x 1,024, plus the sanitizers' overhead
[ $((PEAK_RSS - RSS0)) -le 262144 ] && ok "RSS grew by $((PEAK_RSS - RSS0)) kB at the sampled peak (bound 256 MiB)" \
    || fail "RSS grew by $((PEAK_RSS - RSS0)) kB"
curl -s --interface 127.0.0.3 "$BASE/metrics" | grep -E '^vmesh_verifier_(refused|connections|accepted)' | sed 's/^/  /'
stop_verifier V
grep -c 'warn verifier: refusing' "$T/V.log" | sed 's/^/  refusal warnings in the log (at most one per reason per 10 s): /'
finish
