#!/usr/bin/env bash
# deploy/ and docs agree with the proxy's defaults: every proxy configuration
# embedded in deploy/k8s is valid (`vmesh proxy --check-syntax`: the files it names live in the pod); where one sets
# limits.max-connections, that many idle connections (~85 kB each,
# docs/BENCHMARKS.md bench/proxy) fit the smallest memory limit of its file;
# left out, max-connections is derived from RLIMIT_NOFILE, as --check shows
# and docs/PROXY.md and deploy/README.md say.
. "$(dirname "$0")/lib.bash"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
[ -d "$SRC/deploy/k8s" ] || { echo "SKIP: no deploy/k8s"; exit 77; }
KB_PER_CONN=85

n=0
for f in "$SRC"/deploy/k8s/*.yaml; do
    # ConfigMap entries "  NAME.yaml: |" whose body (indented by 4) is a proxy configuration.
    awk -v dir="$T" -v base="$(basename "$f" .yaml)" '
        /^  [a-z0-9.-]+\.yaml: \|$/ { name = $1; sub(":", "", name); out = dir "/" base "-" (++k) "-" name; next }
        out != "" && /^    / { sub("^    ", ""); gsub("@HOST_IP@", "127.0.0.1"); print > out; next }
        out != "" && !/^    / && !/^$/ { close(out); out = "" }' "$f"
done
for c in "$T"/*.yaml; do
    grep -q '^identity:' "$c" || continue
    n=$((n + 1))
    name=$(basename "$c")
    if "$VMESH" proxy -c "$c" --check-syntax > "$T/check.out" 2>&1; then ok "$name: valid"
    else fail "$name: invalid"; sed 's/^/  /' "$T/check.out"; continue; fi
    sed -n 2p "$T/check.out" | sed 's/^/  /'
    file=$(echo "$name" | cut -d- -f1)
    m=$(sed -n 's/^limits.max-connections: \([0-9]*\) (configured).*/\1/p' "$T/check.out")
    if [ -n "$m" ]; then
        # The smallest container memory limit of the file (requests left out).
        lim=$(grep 'limits: {.*memory:' "$SRC/deploy/k8s/$file.yaml" | grep -o 'memory: [0-9]*[MG]i' | sed 's/memory: //' \
              | awk '/Gi$/ { sub("Gi", ""); print $0 * 1048576; next } /Mi$/ { sub("Mi", ""); print $0 * 1024 }' | sort -n | head -1)
        [ -n "$lim" ] && [ $((m * KB_PER_CONN)) -le "$lim" ] \
            && ok "$name: $m connections x $KB_PER_CONN kB fit the $((lim / 1024)) MiB memory limit" \
            || fail "$name: $m connections x $KB_PER_CONN kB do not fit ${lim:-no} kB"
    fi
done
[ "$n" -ge 4 ] && ok "$n proxy configurations found in deploy/k8s" || fail "only $n proxy configurations found"

# Left out, the limit is derived from the descriptor limit.
cat > "$T/min.yaml" <<YAML
identity: { cert: c.pem, key: k.pem, bundle: b.pem }
inbound: [ { listen: "127.0.0.1:1", app: "127.0.0.1:2" } ]
limits: { workers: 2 }
YAML
prlimit --nofile=1000:1000 "$VMESH" proxy -c "$T/min.yaml" --check-syntax > "$T/min.out" 2>&1
grep -q "limits.max-connections: [0-9]* (derived from the limit), needing about [0-9]* file descriptors; the hard limit here is 1000$" "$T/min.out" \
    && ok "default derived from RLIMIT_NOFILE: $(sed -n 2p "$T/min.out")" || { fail "--check output"; cat "$T/min.out"; }
m=$(sed -n 's/^limits.max-connections: \([0-9]*\) .*/\1/p' "$T/min.out")
[ "$m" -gt 400 ] && [ "$m" -lt 500 ] && ok "1000 descriptors give $m connections (two each after the headroom)" \
    || fail "derived: $m"
grep -q '`limits.max-connections` | derived from `RLIMIT_NOFILE`' "$SRC/docs/PROXY.md" \
    && ok "docs/PROXY.md documents the derived default" || fail "docs/PROXY.md: max-connections default"
grep -q 'derived from that limit' "$SRC/deploy/README.md" && ok "deploy/README.md says so too" \
    || fail "deploy/README.md: derived default"
finish
