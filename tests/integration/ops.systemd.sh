#!/usr/bin/env bash
# The systemd units in deploy/systemd (issue 15.6, units part): each passes
# `systemd-analyze verify` with no warning (its vmesh command lines point at
# the binary under test), has the hardening options, reloads with SIGHUP
# (proxy) and checks its configuration before the start (--check). A unit
# with a broken line must be reported, so the check itself can fail.
. "$(dirname "$0")/lib.bash"
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze missing"; exit 77; }
SRC=${VMESH_SRC:-$(dirname "$0")/../..}
mkdir -p "$T/units"
n=0
for u in "$SRC"/deploy/systemd/*.service; do
    b=$(basename "$u"); n=$((n + 1))
    sed "s#/usr/bin/vmesh#$VMESH#g" "$u" > "$T/units/$b"
    if timeout 120 systemd-analyze verify "$T/units/$b" >"$T/out" 2>&1 && [ ! -s "$T/out" ]; then
        ok "$b: systemd-analyze verify clean"
    else fail "$b: systemd-analyze verify"; sed 's/^/  /' "$T/out" | head; fi
    for k in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
             RestrictAddressFamilies= SystemCallFilter=@system-service CapabilityBoundingSet= MemoryDenyWriteExecute=yes; do
        grep -q "^$k" "$u" || fail "$b lacks $k"
    done
    grep -q '^ExecStartPre=/usr/bin/vmesh .*--check' "$u" && ok "$b: --check before the start" || fail "$b: no --check"
done
[ "$n" = 3 ] && ok "three units (proxy, verifier, rvp)" || fail "$n units"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' "$SRC/deploy/systemd/vmesh-proxy.service" && ok "proxy reloads with SIGHUP" || fail "proxy ExecReload"
# the check can fail: a type typo and a missing binary are reported
sed 's#^Type=notify#Type=bogus#' "$T/units/vmesh-proxy.service" > "$T/units/bad.service"
timeout 120 systemd-analyze verify "$T/units/bad.service" >"$T/out" 2>&1
grep -q "bogus" "$T/out" && ok "a bad line is reported" || fail "bad unit not reported: $(cat "$T/out")"
sed "s#$VMESH#/nonexistent/vmesh#g" "$T/units/vmesh-proxy.service" > "$T/units/bad2.service"
expect_exit 1 "a missing binary fails verify" -- timeout 120 systemd-analyze verify "$T/units/bad2.service"
finish
