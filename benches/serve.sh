#!/usr/bin/env bash
# Serve benchmark: `tripkey serve` against a local moto server. Reports the engine latency
# (SQS message visible -> signed webhook received) at p50/p99 while idle and while trail
# objects of 5,000 records arrive every second, and the sustained records/s of POST /ingest
# with two clients, on SQLite and then on PostgreSQL. Targets (issue 4, and on PostgreSQL
# issue 16): p99 < 1 s idle, p99 < 2 s under load. Then the state-size sweep (issue 16): the
# cost of one small batch with 0, 10,000 and 100,000 tracked instance sessions, on SQLite and
# PostgreSQL, and its ratio to 0 (target <= 1.5x).
#
# Usage: benches/serve.sh
# Environment:
#   TRIPKEY_BENCH_MOTO=URL            use this moto server instead of starting one
#   TRIPKEY_BENCH_DATABASE_URL=URL    use this PostgreSQL database (it gets emptied) instead
#                                     of starting a throwaway cluster
#   TRIPKEY_BENCH_SIZES=0,10000       the sweep's sizes (default 0,10000,100000)
#
# moto comes from target/test-venv (created from scripts/test-requirements.txt when missing).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
case "${1:-}" in
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "serve.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac

# shellcheck source=benches/lib/postgres.sh
source "$root/benches/lib/postgres.sh"
# shellcheck source=benches/lib/moto.sh
source "$root/benches/lib/moto.sh"

work=$(mktemp -d)
cleanup() {
    stop_moto
    stop_postgres
    rm -rf "$work"
}
trap cleanup EXIT

start_moto "$work"
start_postgres "$work"

isolate_aws "$work"
for store in sqlite postgres; do
    echo "serve latency and ingest on $store" >&2
    TRIPKEY_BENCH_STORE=$store cargo bench -j2 -p tripkey --bench serve_latency
done

echo "state-size sweep: SQLite, then PostgreSQL" >&2
cargo bench -j2 -p pipeline --bench state_size
