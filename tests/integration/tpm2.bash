# Shared helpers of the tpm2.* integration tests (sourced after lib.bash;
# not a test itself). start_swtpm NAME starts a TPM 2.0 simulator (swtpm
# socket mode, state in $T/NAME) on two free loopback ports, waits until it
# answers, registers its kill in the cleanup hooks and sets TCTI_<NAME> to
# its TCTI configuration string. Skips the test (exit 77) without swtpm.
need_swtpm() {
    if ! command -v swtpm >/dev/null 2>&1; then
        echo "SKIP: swtpm is not installed (apt-get install swtpm swtpm-tools tpm2-tools)"; exit 77
    fi
}
# Two consecutive free TCP ports on 127.0.0.1 (server, control).
free_port_pair() {
    python3 - <<'PY'
import socket, random
for _ in range(200):
    p = random.randint(20000, 60000)
    ok = True
    for q in (p, p + 1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", q))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(p); break
PY
}
start_swtpm() {
    local name=$1 port pid i
    need_swtpm
    mkdir -p "$T/$name"
    for attempt in 1 2 3; do
        port=$(free_port_pair)
        swtpm socket --tpm2 --server type=tcp,port="$port",bindaddr=127.0.0.1 \
              --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
              --tpmstate dir="$T/$name" --flags not-need-init,startup-clear \
              --log file="$T/$name.log" >"$T/$name.out" 2>&1 &
        pid=$!
        cleanup_hooks+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null")
        for i in $(seq 50); do
            if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
                eval "TCTI_$name=swtpm:host=127.0.0.1,port=$port"
                eval "PID_$name=$pid"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null
    done
    echo "FAIL: swtpm $name did not start"; cat "$T/$name.out" "$T/$name.log" 2>/dev/null | head; exit 1
}
