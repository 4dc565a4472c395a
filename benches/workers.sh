#!/usr/bin/env bash
# Workers benchmark (issue 16): the same corpus read by 1, 2 and 3 `tripkey serve` workers
# sharing one PostgreSQL database, against a local moto server: once from one SQS queue of
# S3 notifications, once from a bucket the S3 source polls.
# Reports records/s and the workers' CPU seconds per million records, and the ratio of the
# latter to 1 worker (target: at most 1.2x with 3 workers). Then memory under hostile input:
# one serve's peak RSS while 8 clients post gzip bombs and its SQS source runs (target
# < 400 MB).
#
# Usage: benches/workers.sh
# Environment:
#   TRIPKEY_BENCH_MOTO=URL            use this moto server instead of starting one
#   TRIPKEY_BENCH_DATABASE_URL=URL    use this PostgreSQL database (it gets emptied) instead
#                                     of starting a throwaway cluster
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
case "${1:-}" in
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "workers.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
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
cargo bench -j2 -p tripkey --bench workers
cargo bench -j2 -p tripkey --bench gzip_bombs
