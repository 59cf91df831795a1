#!/usr/bin/env python3
"""bench/sase-scale report: reads the load generator's JSON lines (one per
mode and N), writes docs/sase-scale.png (latency p50/p99 against N per mode,
drawn with gnuplot) and the "sase-scale" section of docs/BENCHMARKS.md (the
table and the analysis, through bench/lib/mdsection.py).
Usage: report.py RESULTS.jsonl DOCS_DIR INFLIGHT POLL POOL "N1 N2" [CMDLINE]"""
import datetime, json, os, subprocess, sys

res_path, docs, inflight, poll, pool, ns = sys.argv[1:7]
cmdline = sys.argv[7] if len(sys.argv) > 7 else "bench/sase-scale/run.sh build"
rows = [json.loads(l) for l in open(res_path) if l.strip()]
here = os.path.dirname(os.path.abspath(__file__))
png = os.path.join(docs, "sase-scale.png")
NAMES = {"central": "central verifier", "local": "local verifier", "passport": "passport"}


def name(label):
    if label.startswith("central-"):
        return "central verifier, limited to %s" % EXTRA_DESC
    return NAMES.get(label, label)


EXTRA_DESC = os.environ.get("EXTRA_DESC", "fewer resources")


def per(r, phase, who):
    return 1000.0 * r[phase].get(who, 0.0) / max(r["admitted"], 1)


def revocation(r):
    rv = r.get("revocation")
    if not rv:
        return "–"
    cmds = rv["commands"]
    if rv["still_open"] > 0:
        return "%d of %d still open after %.0f s" % (rv["still_open"], cmds[0]["open_before"], rv["max_s"])
    if len(cmds) == 1:
        return "%.1f s" % rv["max_s"]
    return "%.1f s: %d of %d open after the revoking epoch; the next epoch closed them in %.1f s" % (
        rv["max_s"], cmds[1]["open_before"], cmds[0]["open_before"], rv["max_from_last_s"])


# ---- plot --------------------------------------------------------------------------
SHORT = {"central": "central", "local": "local", "passport": "passport"}


def short(label):
    return SHORT.get(label, "central, verifier limited")


labels = []
for r in rows:
    if r["label"] not in labels:
        labels.append(r["label"])
dat = os.path.join(os.path.dirname(res_path), "plot.dat")
with open(dat, "w") as f:
    for lab in labels:
        f.write('# %s\n' % lab)
        for r in sorted((x for x in rows if x["label"] == lab), key=lambda x: x["n"]):
            f.write("%d %.3f %.3f %.1f\n" % (r["n"], max(r["p50_ms"], 0.01), max(r["p99_ms"], 0.01), r["admitted_per_s"]))
        f.write("\n\n")
colors = {"central": "#d62728", "local": "#1f77b4", "passport": "#2ca02c"}
lat, rate = [], []
for i, lab in enumerate(labels):
    c = colors.get(lab, "#9467bd")
    lat.append("'%s' index %d using 1:2 with linespoints lw 2 pt 7 ps 1.3 lc rgb '%s' dt 1 title '%s p50'" % (dat, i, c, short(lab)))
    lat.append("'%s' index %d using 1:3 with linespoints lw 2 pt 5 ps 1.3 lc rgb '%s' dt 2 title '%s p99'" % (dat, i, c, short(lab)))
    rate.append("'%s' index %d using 1:4 with linespoints lw 2 pt 7 ps 1.3 lc rgb '%s' title '%s'" % (dat, i, c, short(lab)))
nvals = sorted({r["n"] for r in rows})
xt = ", ".join('"%s" %d' % (format(n, ","), n) for n in nvals)
xr = "[%g:%g]" % (nvals[0] / 1.6, nvals[-1] * 1.6)
# Room above the data for the key (log scale: a factor of 12).
ylo = min(max(r["p50_ms"], 0.01) for r in rows) / 2
yhi = max(max(r["p99_ms"], 0.01) for r in rows) * 12
extra_note = ("verifier limited = %s" % EXTRA_DESC) if any(short(l) != SHORT.get(l) for l in labels) else ""
gp = """set terminal pngcairo size 1280,600 font 'DejaVu Sans,11'
set output '%s'
set multiplot layout 1,2 title "bench/sase-scale: N clients connecting at once to one PoP (%s handshakes in flight, 2 cores)\\n%s"
set logscale x
set xrange %s
set xtics (%s)
set grid
set xlabel 'simultaneous clients N'
set title 'connection-establishment latency (connect to first HTTP byte)'
set ylabel 'latency (ms)'
set logscale y
set yrange [%g:%g]
set key top left box opaque samplen 3 font ',10'
plot %s
set title 'admitted connections per second'
set ylabel 'connections/s'
unset logscale y
set yrange [0:*]
set key bottom left box opaque font ',10'
plot %s
unset multiplot
""" % (png, inflight, extra_note, xr, xt, ylo, yhi, ", \\\n     ".join(lat), ", \\\n     ".join(rate))
subprocess.run(["gnuplot"], input=gp.encode(), check=True)

# ---- table ------------------------------------------------------------------------------
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
L = ["## bench/sase-scale — N simultaneous clients to one PoP: central verifier, local verifier, passport\n",
     "`%s`, %s, %s, %d CPUs shared by everything below (and, on this machine, by other jobs: the *other load* column)." % (
         cmdline, datetime.date.today(), cpu, os.cpu_count()),
     "",
     "Set-up on 127.0.0.1: `vmesh rvp serve` (bundles), `vmesh verifier serve --threads 2` (the central verifier, polling the RVP every second), and the PoP:",
     "nginx behind `vmesh proxy` inbound (two one-worker processes sharing the port with SO_REUSEPORT, because one process would need 2 fds per",
     "connection and the hard RLIMIT_NOFILE here is 20,000; the sidecar does the same with its workers inside one process). The PoP attests",
     "itself (psa-sim, epoch-fresh) and polls the RVP every %s s. The load generator (`bench_sase_loadgen`) simulates N clients, each its own" % poll,
     "agent with its own AK (so its evidence and its passport are its own: the PoP's AR cache cannot serve one client from another's entry);",
     "IAKs and SVIDs come from a pool of %s. It opens the N connections with at most %s handshakes in flight on 2 threads (epoll," % (pool, inflight),
     "non-blocking atls), sends one HTTP request through each and keeps all N open. **Latency** = from `connect()` to the first byte of the HTTP",
     "response through the tunnel (TCP, TLS 1.3, both attestations, the PoP's connect to nginx, nginx's answer); with a fixed number in flight it",
     "is mostly queueing (≈ in-flight / rate). **admitted/s** = admitted connections over the time from the first connect to the last answer.",
     "**CPU ms per connection** = utime+stime of the process during the establishment phase ÷ admitted. **Revocation**: with all N open, the",
     "RVP publishes a bundle withdrawing the clients' measurement; the time from the publication until the PoP has closed the last one. When",
     "connections are still open %d s later, the RVP publishes its next epoch and the time runs on." % (3 * int(poll)),
     "Modes: *central* — the PoP sends each client's evidence to the central verifier (`verifier.central`); *local* — the PoP appraises with",
     "its bundle-fed local verifier; *passport* — each client got an EAR from the central verifier before the run (column *beforehand*).",
     "",
     "| mode | N | admitted / attempted | admitted/s | p50 ms | p99 ms | max ms | PoP CPU ms/conn | verifier CPU ms/conn | verifier CPU ms/client beforehand | client CPU ms/conn | revocation: all closed after | other load (CPU s) |",
     "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
order = {"central": 0, "local": 1, "passport": 2}
for r in sorted(rows, key=lambda x: (order.get(x["label"], 3), x["n"])):
    L.append("| %s | %s | %s / %s | %s | %.0f | %.0f | %.0f | %.2f | %.2f | %s | %.2f | %s | %.1f |" % (
        name(r["label"]), format(r["n"], ","), format(r["admitted"], ","), format(r["attempted"], ","),
        format(round(r["admitted_per_s"]), ","), r["p50_ms"], r["p99_ms"], r["max_ms"],
        per(r, "establish_cpu", "pop"), per(r, "establish_cpu", "verifier"),
        "%.2f" % per(r, "prep_cpu", "verifier") if r["mode"] == "passport" else "–",
        per(r, "establish_cpu", "loadgen"), revocation(r), r["establish_cpu"].get("other", 0.0)))
fails = [(r["label"], r["n"], f) for r in rows for f in r.get("failures", [])]
if fails:
    L.append("")
    L.append("Refusals and failures: " + "; ".join("%s N=%d: %d × %s" % (name(l), n, f["count"], f["why"]) for l, n, f in fails))
L.append("")
L.append("![latency against N](sase-scale.png)")
L.append("")

# ---- analysis (numbers from this run) -----------------------------------------------------
def pick(label, n):
    return next((r for r in rows if r["label"] == label and r["n"] == n), None)

big = nvals[-1]
c, l, p = pick("central", big), pick("local", big), pick("passport", big)
x = next((r for r in rows if r["label"].startswith("central-") and r["n"] == big), None)
A = ["**Analysis.**"]
if c and l and p:
    pop_ms = (per(l, "establish_cpu", "pop") + per(p, "establish_cpu", "pop")) / 2
    cli_ms = per(l, "establish_cpu", "loadgen")
    ver_ms = per(c, "establish_cpu", "verifier")
    ratio = c["admitted_per_s"] / max(l["admitted_per_s"], 1)
    A.append("At N = %s the central mode admitted %s connections/s, the local mode %s/s and the passport mode %s/s (central ÷ local = %.2f)." % (
        format(big, ","), format(round(c["admitted_per_s"]), ","), format(round(l["admitted_per_s"]), ","),
        format(round(p["admitted_per_s"]), ","), ratio))
    A.append("On this machine every connection costs about %.1f ms of PoP CPU (TLS 1.3 server handshake with a P-256 SVID, the client's" % pop_ms)
    A.append("attestation, the proxying and the connect to nginx) and %.1f ms of client CPU in the load generator, on the same 2 cores, so the" % cli_ms)
    A.append("PoP's ceiling here is roughly 2 / (%.1f + %.1f) ms ≈ %s connections/s whatever the mode; the measured local and passport rates are" % (
        pop_ms, cli_ms, format(round(2000 / (pop_ms + cli_ms)), ",")))
    A.append("at that ceiling. The central verifier spent %.2f ms of CPU per connection (HTTP: newSession, evidence POST, DELETE; PSA" % ver_ms)
    A.append("appraisal; EAR signing), i.e. one verifier core can appraise about %s connections/s — more than this PoP can handshake." % format(round(1000 / max(ver_ms, 0.01)), ","))
    if ratio < 0.8:
        A.append("Even so the central mode is slower here (%.2f of local): the PoP's worker waits for the verifier's answer (three HTTP requests" % ratio)
        A.append("over new TCP connections, blocking) and the verifier's CPU is taken from the same two cores. **The numbers show the cap.**")
    else:
        A.append("So on one 2-core machine the central verifier is *not* the bottleneck, and the three modes are close: the claim that the central")
        A.append("verifier caps the connection rate is **not shown by the unrestricted runs**, because the verifier here serves exactly one PoP and")
        A.append("competes with it for the same cores, where the OpenSSL 3.0 handshake (bench/handshake: ≈ 500–570 mutual handshakes/s per core)")
        A.append("dominates.")
    if x:
        A.append("The labelled extra run limits the verifier to %s, which is what one PoP gets from a verifier shared by many:" % EXTRA_DESC)
        A.append("there the central mode admitted %s connections/s (%.2f of local), p50 %s ms, p99 %s ms — the verifier's capacity, not the PoP's," % (
            format(round(x["admitted_per_s"]), ","), x["admitted_per_s"] / max(l["admitted_per_s"], 1),
            format(round(x["p50_ms"]), ","), format(round(x["p99_ms"]), ",")))
        A.append("sets the rate, while the local and passport modes keep following the PoP's TLS capacity.")
    A.append("For a real deployment: bench/verifier measured ≈ 4,200 verifications/s per verifier core (≈ 5,800 per CPU-second), and one PoP core")
    A.append("completes ≈ %s attested connections/s here. A central verifier with V cores can therefore keep up with about V × %s ÷ %s ≈ %.0f·V" % (
        format(round(1000 / pop_ms), ","), "4,200", format(round(1000 / pop_ms), ","), 4200 / (1000 / pop_ms)))
    A.append("PoP cores connecting clients at full speed; a verifier shared by many PoPs and thousands of clients (Veraison's own load test")
    A.append("levels off near 400 verifications/s) becomes the cap as soon as the PoPs' total handshake capacity exceeds that — at a")
    A.append("morning login storm or after a revocation, when every client reconnects. It is also on the revocation path: in central mode")
    A.append("the PoP re-appraises every open connection at the verifier when its bundle changes (N verifier requests at once), and that")
    A.append("re-appraisal races the verifier's own bundle poll — connections re-appraised before the verifier has the revoking bundle stay")
    A.append("open until the next epoch (see the revocation column). Local verifiers re-appraise in-process with no round trip; passports")
    A.append("are cut one epoch later by design (an EAR appraised under epoch e is accepted while the PoP is at e+1).")
out = "\n".join(L + [" ".join(A)]) + "\n"
sys.stdout.write(out)
subprocess.run([sys.executable, os.path.join(here, "..", "lib", "mdsection.py"), "sase-scale", os.path.join(docs, "BENCHMARKS.md")],
               input=out.encode(), check=True)
