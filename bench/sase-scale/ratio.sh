#!/usr/bin/env bash
# bench/sase-scale/ratio.sh: central ÷ local admitted connections/s at N
# clients, from ROUNDS alternating runs of bench/sase-scale/run.sh (local,
# then central, each round), so that both modes see the same machine state;
# the ratio is taken per round and its median reported (issue 12's goal:
# >= 0.9 at N = 10,000). Also the CPU-seconds of all processes during each
# establishment phase, whose ratio is the steadier figure on a shared
# machine. Runs every round in its own network namespace when it can
# (`unshare -n`: its own loopback, no port clash with anything else).
# The central runs use run.sh's verifier link: by default the attested https
# link of DECISIONS D31 (the PoP attests the verifier, pins its TLS key);
# env VER_LINK=plain the PoP's opt-in plain http:// (insecure-plain-http),
# for comparison. The link used is printed with the results (from the
# central runs' own rows).
# Usage: [VER_LINK=attested|plain] bench/sase-scale/ratio.sh BUILD_DIR [N] [ROUNDS]
set -eu
export VER_LINK=${VER_LINK:-attested}
case $VER_LINK in attested|plain) ;; *) echo "bench/sase-scale/ratio.sh: VER_LINK=$VER_LINK: attested or plain" >&2; exit 2 ;; esac
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-10000}
ROUNDS=${3:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$BUILD/src/cli/vmesh" ] || { echo "bench/sase-scale/ratio.sh: build first (make build)" >&2; exit 1; }
OUT=$(mktemp /tmp/vmesh-sase-ratio.XXXXXX)
trap 'rm -f "$OUT"' EXIT
one() { # mode round
    local cmd="MAXSECS=\${MAXSECS:-150} REPORT=0 bash '$HERE/run.sh' '$BUILD' $N $1 0"
    if unshare -n true 2>/dev/null; then
        unshare -n bash -c "ip link set lo up; $cmd"
    else
        bash -c "$cmd"
    fi | grep -E '^\{' | head -1 | sed "s/^{/{\"round\": $2, /" >> "$OUT"
}
for r in $(seq "$ROUNDS"); do
    one local "$r"
    one central "$r"
done
python3 - "$OUT" "$N" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["round"], {})[r["label"]] = r
links = sorted({r.get("verifier_link", "unknown") for r in rows if r["label"] == "central"})
desc = {"attested-https": "attested https (D31: verifier-rv, TLS key pinned, EAR key attested)",
        "plain-http": "plain http (insecure-plain-http: true)"}
print(f"N = {sys.argv[2]}, {len(by)} rounds (local, then central, in each); "
      f"central verifier link: {', '.join(desc.get(l, l) for l in links) or 'none (no central run)'}")
# The load generator does the same work in both modes (the clients' side of
# every handshake), so its CPU-s measure how fast the machine ran each
# phase: the CPU ratio with each mode's CPU divided by its load generator's
# ("speed-normalised") cancels a machine that runs slower in one phase
# than in the other (a shared host).
print("| round | local admitted/s | central admitted/s | central ÷ local | local CPU-s | central CPU-s | CPU ratio | speed-normalised CPU ratio |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
ratios, cratios, nratios = [], [], []
for k in sorted(by):
    l, c = by[k].get("local"), by[k].get("central")
    if not l or not c:
        continue
    lc, cc = sum(l["establish_cpu"].values()), sum(c["establish_cpu"].values())
    ratios.append(c["admitted_per_s"] / l["admitted_per_s"]); cratios.append(lc / cc)
    ll, cl = l["establish_cpu"].get("loadgen", 0.0), c["establish_cpu"].get("loadgen", 0.0)
    nratios.append((lc / ll) / (cc / cl) if ll > 0 and cl > 0 else float("nan"))
    print(f"| {k} | {l['admitted_per_s']:.1f} | {c['admitted_per_s']:.1f} | {ratios[-1]:.3f} | {lc:.2f} | {cc:.2f} | {cratios[-1]:.3f} | {nratios[-1]:.3f} |")
procs = sorted({p for k in by for m in by[k].values() for p in m["establish_cpu"]})
if procs:
    print("\nCPU-s per process during establishment (local / central, and central − local in ms per connection):")
    print("| round | " + " | ".join(procs) + " |")
    print("|---:|" + "---|" * len(procs))
    n = int(sys.argv[2])
    for k in sorted(by):
        l, c = by[k].get("local"), by[k].get("central")
        if not l or not c:
            continue
        cells = []
        for p in procs:
            lv, cv = l["establish_cpu"].get(p, 0.0), c["establish_cpu"].get(p, 0.0)
            cells.append(f"{lv:.2f} / {cv:.2f} ({(cv - lv) * 1000 / n:+.3f})")
        print(f"| {k} | " + " | ".join(cells) + " |")
if ratios:
    print(f"\nmedian central ÷ local admitted/s: {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); "
          f"median local ÷ central CPU: {statistics.median(cratios):.3f}; speed-normalised: {statistics.median(nratios):.3f} "
          f"(min {min(nratios):.3f}, max {max(nratios):.3f})")
PY
