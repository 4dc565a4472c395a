# Sourced by the benchmark scripts: start_moto starts a moto server on a free loopback port
# (from target/test-venv, made from scripts/test-requirements.txt when missing) and exports
# TRIPKEY_BENCH_MOTO; stop_moto stops it. A URL already in TRIPKEY_BENCH_MOTO is used as it is.

bench_moto_pid=

start_moto() {
    local work=$1 venv port
    if [[ -n "${TRIPKEY_BENCH_MOTO:-}" ]]; then return 0; fi
    venv=$(pwd)/target/test-venv
    if [[ ! -x "$venv/bin/moto_server" ]]; then
        echo "creating $venv for moto..." >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet -r scripts/test-requirements.txt
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
    bench_moto_pid=$!
    for _ in $(seq 1 120); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            export TRIPKEY_BENCH_MOTO=http://127.0.0.1:$port
            return 0
        fi
        kill -0 "$bench_moto_pid" 2>/dev/null || { cat "$work/moto.log" >&2; return 1; }
        sleep 0.5
    done
    echo "moto did not start on 127.0.0.1:$port" >&2
    return 1
}

stop_moto() {
    if [[ -n "$bench_moto_pid" ]]; then
        kill "$bench_moto_pid" 2>/dev/null || true
        wait "$bench_moto_pid" 2>/dev/null || true
        bench_moto_pid=
    fi
}

# Keeps a benchmark's AWS calls away from any real account and profile: empty config and
# credentials files under $1, and no instance metadata.
isolate_aws() {
    export AWS_CONFIG_FILE=$1/aws-config AWS_SHARED_CREDENTIALS_FILE=$1/aws-credentials
    : >"$AWS_CONFIG_FILE"
    : >"$AWS_SHARED_CREDENTIALS_FILE"
    export AWS_EC2_METADATA_DISABLED=true
}
