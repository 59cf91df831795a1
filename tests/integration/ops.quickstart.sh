#!/usr/bin/env bash
# docs/QUICKSTART.md, verbatim (issue 15.5): the lines of its ```sh blocks
# are run as written, in order, by one bash in a new network namespace (the
# page's fixed ports cannot clash with other tests) and a new directory,
# with the vmesh under test first on PATH. At most six command lines; the
# first curl must print the app's page through both sidecars (the service's
# access log names the client's SPIFFE ID, attested), the last one must fail
# once the client sidecar took the revoking epoch (it is run again, as the
# page says, until it fails: at most 60 times, once a second), and the
# client's log must name the refusal of the service.
. "$(dirname "$0")/lib.bash"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (a network namespace for the page's fixed ports)"; exit 77; }
for t in unshare curl python3 ip; do command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
SRC=${VMESH_SRC:-$(dirname "$0")/../..}
python3 - "$SRC/docs/QUICKSTART.md" >"$T/cmds" <<'PY'
import sys
inb, out = False, []
for line in open(sys.argv[1]):
    s = line.rstrip("\n")
    if s.startswith("```"):
        inb = (s == "```sh") if not inb else False
        continue
    if inb and s.strip():
        out.append(s)
print("\n".join(out))
PY
n=$(wc -l <"$T/cmds")
[ "$n" -ge 4 ] && [ "$n" -le 6 ] && ok "QUICKSTART.md has $n command lines (at most 6)" || fail "QUICKSTART.md has $n command lines"
sed 's/^/  | /' "$T/cmds"
last=$(tail -1 "$T/cmds")
grep -q '^vmesh init ' "$T/cmds" && ok "it starts with vmesh init" || fail "no vmesh init"
# The driver: every line but the last as written; the last (the refused
# request) as written, again until it fails.
{
    echo 'set -u'
    echo 'ip link set lo up'
    echo 'trap '\''kill $(jobs -p) 2>/dev/null; wait'\'' EXIT'
    n1=0
    while IFS= read -r line; do
        n1=$((n1 + 1))
        [ "$n1" -eq "$n" ] && break
        printf 'echo "### %s" >&2\n' "$n1"
        printf '%s\n' "$line"
        printf 'echo "### %s exit $?" >&2\n' "$n1"
    done <"$T/cmds"
    printf 'for i in $(seq 60); do\n  echo "### last try $i" >&2\n  %s > last.out 2> last.err && { sleep 1; continue; }\n  echo "### last failed after $i"; cat last.err; break\ndone\n' "$last"
    echo 'sleep 1'
} >"$T/driver.sh"
mkdir -p "$T/work"
(cd "$T/work" && PATH="$(dirname "$VMESH"):$PATH" timeout 300 unshare -n bash "$T/driver.sh" >"$T/driver.out" 2>"$T/driver.err")
echo "driver exit $?"
grep -q '^### 1 exit 0' "$T/driver.err" && ok "vmesh init exits 0" || fail "vmesh init"
if grep -q 'hello from the app behind an attested vmesh sidecar' "$T/driver.out"; then
    ok "the request through the mesh got the app's page"
else fail "no page through the mesh"; tail -30 "$T/driver.err"; fi
M=$T/work/mesh
python3 - "$M/service-access.log" >"$T/acc" 2>&1 <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [r for r in recs if r.get("peer") == "spiffe://quickstart.example/client" and r.get("tier") == "affirming" and r.get("mode") == "epoch-fresh"]
print(len(recs), len(ok), json.dumps(ok[0] if ok else (recs[0] if recs else {}))[:400])
PY
if read -r nrec nok rest <"$T/acc" && [ "${nok:-0}" -ge 1 ]; then
    ok "service access log: the client spiffe://quickstart.example/client attested ($nok of $nrec records): $rest"
else fail "service access log has no attested client record: $(cat "$T/acc")"; fi
if grep -q '### last failed after' "$T/driver.out"; then
    ok "after the revoking publish the request fails: $(grep -A1 '### last failed' "$T/driver.out" | tail -1)"
else fail "the request never failed after the revocation"; tail -20 "$T/driver.err"; fi
# what the sidecars logged after the revoking publish
sed -n "/^### $((n - 1)) exit 0/,\$p" "$T/driver.err" >"$T/after"
grep -q 'epoch 2 accepted' "$T/after" && ok "the sidecars took epoch 2" || fail "no 'epoch 2 accepted' after the publish"
# the failing request was refused at its handshake, or (under load) it was
# admitted under epoch 1 and closed by the re-appraisal when epoch 2 came
svc_line='outbound service: (peer|closing the connection with) spiffe://quickstart.example/service'
if grep -E "$svc_line" "$T/after" | grep -qiE 'refused|not-affirming|re-appraisal'; then
    ok "the client's log names the refusal of the service: $(grep -E "$svc_line" "$T/after" | grep -iE 'refused|not-affirming|re-appraisal' | head -1 | cut -c1-300)"
else fail "no refusal of the service in the log"; grep -iE 'refus|re-appraisal|not-affirming' "$T/driver.err" | head; fi
finish
