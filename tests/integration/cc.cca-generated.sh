#!/usr/bin/env bash
# cc.cca-generated: the CCA cases the shared vector cannot show, on tokens
# built with generated CPAK and RAK (broken binding, wrong challenge,
# unknown CPAK, REM / RIM / RPV / software / config mismatches, debug
# lifecycles, the cca-sim attester) and the token codec's own cases: runs
# the cca unit test programs (tests/unit/cca) so that they count among the
# cc.* tests. Skips when they were not built (no cmocka).
. "$(dirname "$0")/lib.bash"
for prog in unit_cca_scheme unit_cca_token; do
    bin=$VMESH_BUILD/tests/$prog
    [ -x "$bin" ] || { echo "SKIP: $bin not built"; exit 77; }
    if "$bin" >"$T/out" 2>&1; then ok "$prog: $(grep -c '\[       OK \]' "$T/out") cases"; else
        fail "$prog"; sed 's/^/  /' "$T/out" | grep -v '^  \[ \(RUN\|      OK\) ' | head -40; fi
done
finish
