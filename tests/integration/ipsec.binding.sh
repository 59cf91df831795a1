#!/usr/bin/env bash
# The IKE credential is bound to its attested session: a credential derived
# from another session does not authenticate (ipsec_lib.bash has the
# topology; real charon on both routers).
#  1. branch and main attest; epoch 1's credential brings the tunnel up;
#     the branch gateway runs with --keylog (testing only), so the test
#     learns every credential it derives, as an attacker on that host would;
#  2. the bell ticks: a new attested session derives epoch 2's credential
#     and the SA is re-authenticated with it;
#  3. the branch gateway dies without cleaning up (kill -9) and the
#     attacker drives the branch charon by hand (swanctl) with the SVID and
#     epoch 1's credential, from the earlier session: the main charon, which
#     holds epoch 2's, refuses the PSK round (AUTHENTICATION_FAILED);
#  4. control: the same hand-driven IKE_SA with epoch 2's credential (the
#     current session's) authenticates, so the refusal in 3 was the
#     credential and nothing else;
#  5. two sessions never yield the same credential (keylog lines differ,
#     and the two ends of a session agree: checked in the ipsec.derive
#     unit test with real atls sessions).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/ipsec_lib.bash"
ix_setup
ix_gw main
ix_gw branch --keylog "$T/keylog"
wait_state "$NS_RB" $ADMIN_B up 30 && ok "tunnel up (epoch $(bell_id))" || { fail "tunnel not up"; finish; }
e1=$(bell_id)
ix_tick
e2=$(bell_id)
for _ in $(seq 100); do
    [ "$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_rekeys_total{peer="main"}')" -ge 1 ] && break; sleep 0.1
done
[ "$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_rekeys_total{peer="main"}')" -ge 1 ] && ok "re-keyed for epoch $e2" || fail "no re-key"
psk1=$(awk -v e="$e1" '$1 == "VMESH_IPSEC_PSK" && $3 == e { print $4 }' "$T/keylog" | tail -1)
psk2=$(awk -v e="$e2" '$1 == "VMESH_IPSEC_PSK" && $3 == e { print $4 }' "$T/keylog" | tail -1)
[ ${#psk1} = 64 ] && [ ${#psk2} = 64 ] && [ "$psk1" != "$psk2" ] && ok "two sessions, two different 32-byte credentials" ||
    { fail "keylog: '$psk1' '$psk2'"; cat "$T/keylog"; }
[ "$(sort -u -k4 "$T/keylog" | wc -l)" = "$(wc -l < "$T/keylog")" ] && ok "no credential repeats in the key log" || fail "a credential repeats"

# ---- 3. the earlier session's credential
kill -9 "$GW_PID_branch"; wait "$GW_PID_branch" 2>/dev/null; GW_PID_branch=
mkdir -p "$T/attacker/private"
cp "$T/branch.key" "$T/attacker/private/"
attacker_conf() { # attacker_conf HEXPSK
    cat > "$T/attacker/swanctl.conf" <<EOF
connections {
  attack {
    version = 2
    remote_addrs = 198.18.0.2
    proposals = aes256gcm16-prfsha256-ecp256
    unique = never
    local-1 {
      auth = pubkey
      certs = $T/branch.pem
      id = "{201}:$ID_B"
    }
    local-2 {
      auth = psk
      id = "{201}:$ID_B"
    }
    remote-1 {
      auth = pubkey
      id = "{201}:$ID_M"
      cacerts = $T/ca/ca.pem
    }
    remote-2 {
      auth = psk
      id = "{201}:$ID_M"
    }
    children {
      net {
        local_ts = 198.18.1.0/24
        remote_ts = 198.18.2.0/24
        esp_proposals = aes256gcm16
      }
    }
  }
}
secrets {
  ike-attack {
    id-1 = "{201}:$ID_B"
    id-2 = "{201}:$ID_M"
    secret = 0x$1
  }
}
EOF
    # --clear: only the attacker's credentials (the SVID key and this PSK)
    swanctl_ rb --load-all --clear --file "$T/attacker/swanctl.conf" >"$T/attacker/load.out" 2>&1
}
attack() { # attack: hand-driven IKE_SA; exit 0 when it came up
    timeout 20 env STRONGSWAN_CONF="$T/rb/strongswan.conf" swanctl --initiate --ike attack --child net \
        --uri "unix://$T/rb/charon.vici" >"$T/attacker/initiate.out" 2>&1
    grep -q "initiate completed successfully" "$T/attacker/initiate.out"
}
sas_main_before=$(ike_sas rm)
attacker_conf "$psk1"
grep -q "loaded ike secret 'ike-attack'" "$T/attacker/load.out" && ok "attacker loaded epoch $e1's credential" || { fail "attacker load"; cat "$T/attacker/load.out"; }
attack && fail "epoch $e1's credential authenticated after the re-key" || ok "epoch $e1's credential (an earlier session) does not authenticate"
grep -q "AUTHENTICATION_FAILED" "$T/attacker/initiate.out" && ok "the main charon answered AUTHENTICATION_FAILED" ||
    { fail "no AUTHENTICATION_FAILED"; tail -8 "$T/attacker/initiate.out"; }
grep -Eq "authentication of 'spiffe://vmesh.test/gw/branch' with (ECDSA|pre-shared key).* successful" "$T/rm/charon.log" &&
grep -q "tried 1 shared key for 'spiffe://vmesh.test/gw/main' - 'spiffe://vmesh.test/gw/branch', but MAC mismatched" "$T/rm/charon.log" &&
    ok "main charon log: the certificate round passed, the PSK round failed (MAC mismatched)" ||
    { fail "main charon log lacks the PSK mismatch"; grep -i "auth" "$T/rm/charon.log" | tail -8; }
[ "$(ike_sas rm)" = "$sas_main_before" ] && ok "no new IKE SA at the main charon" || fail "main SA count changed"

# ---- 4. control: the current session's credential
attacker_conf "$psk2"
attack && ok "control: epoch $e2's credential (the current session's) authenticates the same hand-driven IKE_SA" ||
    { fail "control failed"; tail -8 "$T/attacker/initiate.out"; }
swanctl_ rb --terminate --ike attack >/dev/null 2>&1
stop_gw main
finish
