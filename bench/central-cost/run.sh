#!/usr/bin/env bash
# bench/central-cost: the CPU one central-mode verification costs, in
# instructions (callgrind, so a shared machine does not blur it), on both
# sides of the link:
#   verifier - `vmesh verifier serve` (plain http, one-request appraisal
#              POST /vmesh/v1/appraise?nonce=, as in bench/sase-scale) under
#              callgrind: its instructions over N verifications, divided by N
#              (the counters are dumped after a warm-up, then after the N);
#   relying party - bench_central_rp (what src/agent/rp.c ask_central does:
#              the central client over its keep-alive connection cache, EAR
#              signature and claims, the answer's checks) under callgrind,
#              run for N and for 2N: (Ir(2N) - Ir(N)) / N, so start-up cancels.
# Also prints the wall time per verification of a native run (sanity only).
# Each of three verifier links (env LINKS, default all three, in this order):
#   plain           - plain http (the relying party's insecure-plain-http opt-in);
#   attested-signed - the attested https link of DECISIONS D31 (the verifier
#                     serves TLS 1.3 and attests its psa-sim platform, the
#                     relying party attests it once under its reference
#                     values and pins its TLS key) with signed EARs
#                     (verifier.central.signed-answers: true);
#   attested        - the same link with channel-bound answers (D51, the
#                     default there): HS256 under the TLS session's exported key.
# One JSON line per link.
# Usage: bench/central-cost/run.sh BUILD_DIR [N]
set -eu
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-200}
VMESH=$BUILD/src/cli/vmesh
RP=$BUILD/bench/bench_central_rp
[ -x "$VMESH" ] && [ -x "$RP" ] || { echo "bench/central-cost: build first (make build)" >&2; exit 1; }
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
    { echo "bench/central-cost: valgrind (callgrind) is needed" >&2; exit 1; }
W=$(mktemp -d)
SPID=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$W"' EXIT
cd "$W"
FILES=8
PSA_MT='application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
"$VMESH" keygen --type ec-p256 -o iak.pem --pub iak.pub >/dev/null
"$VMESH" keygen --type ec-p256 -o ear.pem --pub ear.pub >/dev/null
printf 'central-cost workload v1\n' > workload
IMPL=$(printf 'bench-implementation-id-0000001x' | base64 -w0)
Z=$(head -c 32 /dev/zero | base64 -w0)
cat > claims.json <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1, "psa-security-lifecycle": 12288,
  "psa-implementation-id": "$IMPL", "psa-boot-seed": "$Z", "psa-nonce": "$Z",
  "psa-software-components": [ {"measurement-type": "workload", "measurement-value": "$Z", "signer-id": "$Z"} ] }
JSON
cat > rv.json <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$IMPL",
  "measurements": [ {"name": "workload", "digest": {"alg": "sha-256", "value": "$(sha256sum workload | cut -d' ' -f1)"}} ],
  "keys": [ $(python3 -c 'import json,sys; print(json.dumps(open("iak.pub").read()))') ] } ] }
JSON
mkdir ev
for i in $(seq 0 $((FILES - 1))); do
    H=$(openssl rand -hex 32)
    python3 -c 'import base64,sys; print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$H" > ev/nonce-$i.txt
    "$VMESH" attest psa --iak iak.pem --claims claims.json --measure workload=workload --nonce "$H" -o ev/ev-$i.cose
done

# The verifier's own platform (psa-sim) and TLS key for the attested link,
# and the reference values the relying party judges it by.
"$VMESH" keygen --type ec-p256 -o viak.pem --pub viak.pub >/dev/null
"$VMESH" ca init --trust-domain central-cost.example --out ca >/dev/null
"$VMESH" ca issue --ca ca --spiffe-id spiffe://central-cost.example/verifier --out vtls >/dev/null
VIMPL=$(printf 'central-cost-verifier-00000001xx' | base64 -w0)
sed "s|\"$IMPL\"|\"$VIMPL\"|" claims.json > vclaims.json
printf 'central-cost verifier v1\n' > vworkload
cat > vrv.json <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$VIMPL",
  "measurements": [ {"name": "workload", "digest": {"alg": "sha-256", "value": "$(sha256sum vworkload | cut -d' ' -f1)"}} ],
  "keys": [ $(python3 -c 'import json,sys; print(json.dumps(open("viak.pub").read()))') ] } ] }
JSON

LINK=plain
start_verifier() { # start_verifier [wrapper...]
    local tls=()
    [ "$LINK" = plain ] || tls=(--tls-cert vtls-chain.pem --tls-key vtls.key --attest psa-sim --attest-opt iak=viak.pem
                                --attest-opt claims=vclaims.json --attest-opt measure=workload=vworkload)
    rm -f serve.log; PORT=
    "$@" "$VMESH" verifier serve --listen 127.0.0.1:0 --threads 2 --key ear.pem --rv rv.json "${tls[@]}" \
        --client-connections off --client-rate off --client-bytes off 2>serve.log &
    SPID=$!
    for _ in $(seq 600); do PORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' serve.log); [ -n "$PORT" ] && break; sleep 0.1; done
    [ -n "${PORT:-}" ] || { echo "bench/central-cost: the verifier did not start"; cat serve.log; exit 1; }
}
stop_verifier() { kill -TERM "$SPID"; wait "$SPID" || true; SPID=; }
rp() { # rp COUNT [wrapper...]: runs the relying party, prints its JSON line
    local n=$1 link=(); shift
    case $LINK in
        attested) link=(-r vrv.json) ;;
        attested-signed) link=(-r vrv.json -s) ;;
    esac
    "$@" "$RP" -u "$([ "$LINK" = plain ] && echo http || echo https)://127.0.0.1:$PORT" -k ear.pub -e ev -m "$PSA_MT" \
        -f "$FILES" -n "$n" "${link[@]}"
}
ir() { sed -n 's/^summary: *//p; s/^totals: *//p' "$1" | head -1 | awk '{print $1}'; }

measure() {
    local native rp1 rp2 ver dumps last
    rm -f "$W"/*.out*
    # Wall-time sanity, native.
    start_verifier
    rp 20 >/dev/null
    native=$(rp "$N")
    # the link's answers: channel-bound on the attested link only (D51)
    case $LINK in
        attested) echo "$native" | grep -q "\"channel_bound\": $N," || { echo "bench/central-cost: $LINK: answers not channel-bound: $native"; exit 1; } ;;
        *) echo "$native" | grep -q '"channel_bound": 0,' || { echo "bench/central-cost: $LINK: channel-bound answers: $native"; exit 1; } ;;
    esac
    echo "$LINK native: $native"
    # Relying party under callgrind, N and 2N, against the native verifier.
    rp "$N" valgrind --tool=callgrind --callgrind-out-file="$W/rp1.out" >/dev/null 2>rp1.err
    rp $((2 * N)) valgrind --tool=callgrind --callgrind-out-file="$W/rp2.out" >/dev/null 2>rp2.err
    stop_verifier
    RP_IR=$(( ($(ir rp2.out) - $(ir rp1.out)) / N ))
    # Verifier under callgrind: dump after a warm-up, then after N.
    start_verifier valgrind --tool=callgrind --callgrind-out-file="$W/ver.out.%p"
    rp 20 >/dev/null
    callgrind_control -d "$SPID" >/dev/null 2>&1
    rp "$N" >/dev/null
    callgrind_control -d "$SPID" >/dev/null 2>&1
    stop_verifier
    last=$(ls -1 "$W"/ver.out.* | sort -t. -k3 -n | tail -1)
    [ -n "$last" ] || { echo "bench/central-cost: no callgrind dump of the verifier"; exit 1; }
    dumps=$(ls -1 "$W"/ver.out.*.2 2>/dev/null | head -1)
    VER_IR=$(( $(ir "${dumps:-$last}") / N ))
    echo "{\"link\": \"$LINK\", \"n\": $N, \"verifier_ir_per_verification\": $VER_IR, \"rp_ir_per_verification\": $RP_IR," \
         "\"total_ir_per_verification\": $((VER_IR + RP_IR))}"
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP/$LINK"; cp "$W"/*.out* "$KEEP/$LINK"/ 2>/dev/null || true; fi
}
for LINK in ${LINKS:-plain attested-signed attested}; do
    case $LINK in plain|attested-signed|attested) ;; *) echo "bench/central-cost: LINKS: plain, attested-signed, attested" >&2; exit 2 ;; esac
    measure
done
