#!/usr/bin/env bash
# Issue 12 "Must show", functional part: a central-mode PoP (replicas V1, V2)
# while its verifier is silent and while it is flooded, real processes on
# loopback (bench/verifier/flood.sh, which this runs in check mode with short
# phases): established connections through the PoP keep echoing (every echo
# succeeds) with one replica SIGSTOPped, with both SIGSTOPped, and under
# 1,100 idle plus 1,100 slow-header sockets at each replica; legitimate
# verifications (new attested connections in fresh mode) complete in every
# phase but the one with no replica answering, where new peers fail closed;
# the verifiers' RSS stays under a generous bound and both survive. Latencies
# are printed by the bench, never judged here (the machine may be loaded).
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
PHASES=${PHASES:-baseline slow-one slow-all flood after} FLOOD_CHECK=1 OUT=/dev/null \
    exec bash "$(dirname "$0")/../../bench/verifier/flood.sh" "" "${FLOOD_PHASE_S:-10}"
