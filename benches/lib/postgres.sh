# Sourced by the benchmark scripts: start_postgres starts a throwaway PostgreSQL cluster on a
# free loopback port under $1 and exports TRIPKEY_BENCH_DATABASE_URL; stop_postgres stops it.
# A URL already in TRIPKEY_BENCH_DATABASE_URL is used as it is (its database gets emptied).
# Unlike the test cluster, this one keeps fsync and synchronous commit on, so that the
# figures are those of a real deployment.

bench_pg_bin=
bench_pg_data=
bench_pg_run=()

find_postgres_bin() {
    local dir
    # shellcheck disable=SC2012 # the paths are /usr/lib/postgresql/<version>/bin
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/pg_ctl" && -x "$dir/initdb" && -x "$dir/pg_isready" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

start_postgres() {
    local root=$1/postgres port
    if [[ -n "${TRIPKEY_BENCH_DATABASE_URL:-}" ]]; then return 0; fi
    bench_pg_bin=$(find_postgres_bin) || {
        echo "no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql, or set TRIPKEY_BENCH_DATABASE_URL)" >&2
        return 1
    }
    mkdir -m 700 "$root"
    chmod 755 "$1"
    if [[ $EUID == 0 ]]; then
        chown postgres: "$root"
        bench_pg_run=(runuser -u postgres --)
    fi
    bench_pg_data=$root/data
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    (cd "$root" && "${bench_pg_run[@]}" "$bench_pg_bin/initdb" -D "$bench_pg_data" -U postgres -A trust \
        -E UTF8 --locale=C --no-instructions) >"$root/initdb.log" 2>&1 || { cat "$root/initdb.log" >&2; return 1; }
    (cd "$root" && "${bench_pg_run[@]}" "$bench_pg_bin/pg_ctl" -D "$bench_pg_data" -l "$root/postgres.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$root -c max_connections=200" \
        start) >"$root/pg_ctl.log" 2>&1 || { cat "$root/postgres.log" >&2; return 1; }
    export TRIPKEY_BENCH_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_postgres() {
    if [[ -n "$bench_pg_data" ]]; then
        "${bench_pg_run[@]}" "$bench_pg_bin/pg_ctl" -D "$bench_pg_data" stop -m fast -w -t 20 >/dev/null 2>&1 || true
        bench_pg_data=
    fi
}
