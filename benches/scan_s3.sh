#!/usr/bin/env bash
# S3 scan benchmark: a multi-day generated CloudTrail corpus uploaded to a moto S3 server, then
# `tripkey scan s3://BUCKET/AWSLogs/` over all of it and with a one-day --since/--until
# window. Reports objects read per second, and the share of the bucket's log objects the
# window let the scan skip without a GET. Moto runs on loopback from target/test-venv (made by
# scripts/test), so the figures measure tripkey's listing, pruning and parallel GETs, not a
# network.
#
# Usage: benches/scan_s3.sh
# Environment:
#   RECORDS=N      corpus size in records (default 100000)
#   DAYS=D         days the corpus spans (default 4)
#   RUNS=K         timed runs per scan, best taken (default 3)
#   TRIPKEY=PATH   the tripkey binary to measure (default: the release build)
set -uo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

for arg in "$@"; do
    case "$arg" in
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "scan_s3.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done

records=${RECORDS:-100000}
days=${DAYS:-4}
runs=${RUNS:-3}
target_dir=${CARGO_TARGET_DIR:-$root/target}
tripkey=${TRIPKEY:-$target_dir/release/tripkey}
generator=$target_dir/release/tripkey-corpus
venv=$root/target/test-venv
corpus=$root/target/bench-corpus-s3
work=$(mktemp -d)
moto_pid=""
cleanup() {
    [[ -n "$moto_pid" ]] && kill "$moto_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" >&2; }

[[ -x "$venv/bin/moto_server" && -x "$venv/bin/aws" ]] ||
    { say "scan_s3.sh: $venv has no moto_server or aws: run scripts/test once to make it"; exit 2; }

say "building release binaries..."
cargo build --release -j2 -p tripkey -p tripkey-corpus >&2 || exit 2

# Starts at midnight so that the days are whole and the window's day is the second one.
start=2025-06-02T00:00:00Z
window_since=2025-06-03T00:00:00Z
window_until=2025-06-03T23:59:59Z
if [[ ! -f "$corpus/manifest.json" || "$generator" -nt "$corpus/manifest.json" ]] ||
    ! grep -q "\"records\": *$records\b" "$corpus/manifest.json" ||
    [[ "$(cat "$corpus/.days" 2>/dev/null)" != "$days" ]]; then
    say "generating $records records over $days days into $corpus ..."
    "$generator" --records "$records" --span-hours $((days * 24)) --start "$start" \
        --out "$corpus" --force >&2 || exit 2
    echo "$days" >"$corpus/.days"
fi
objects=$(find "$corpus/AWSLogs" -name '*.json.gz' ! -path '*Digest*' | wc -l)
in_window=$(find "$corpus/AWSLogs" -name '*.json.gz' ! -path '*Digest*' -path '*/2025/06/03/*' | wc -l)

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endpoint=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=$endpoint AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
MOTO_RECORDER_FILEPATH="$work/moto_recording" "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" \
    >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

say "uploading $objects log objects (and their digests) to moto..."
"$venv/bin/aws" s3 mb s3://bench-trail >/dev/null || exit 2
"$venv/bin/aws" s3 sync --only-show-errors "$corpus/AWSLogs" s3://bench-trail/AWSLogs || exit 2

# scan_once NAME ARGS...: best wall time (ms) of $runs runs into $work/NAME.wall, and the
# JSON summary of the last run into $work/NAME.json.
scan_once() {
    local name=$1 best="" start end wall
    shift
    for ((i = 0; i < runs; i++)); do
        start=$(date +%s%N)
        "$tripkey" scan --format json --no-progress --no-store \
            --canaries "$corpus/canaries.toml" "$@" s3://bench-trail/AWSLogs/ \
            >"$work/$name.json" 2>"$work/$name.err"
        (($? <= 1)) || { say "tripkey scan failed:"; tail -n 5 "$work/$name.err" >&2; exit 2; }
        end=$(date +%s%N)
        wall=$(((end - start) / 1000000))
        [[ -z "$best" || $wall -lt $best ]] && best=$wall
    done
    echo "$best" >"$work/$name.wall"
}

say "timing tripkey scan of the whole bucket (best of $runs)..."
scan_once all
say "timing tripkey scan --since $window_since --until $window_until (best of $runs)..."
scan_once day --since "$window_since" --until "$window_until"

python3 - "$work" "$objects" "$in_window" "$days" "$records" <<'EOF'
import json, os, sys
work, objects, in_window, days, records = sys.argv[1], *map(int, sys.argv[2:])
def load(name):
    with open(os.path.join(work, name + ".json")) as f:
        summary = json.load(f)["summary"]
    with open(os.path.join(work, name + ".wall")) as f:
        return summary, int(f.read()) / 1000
print(f"\ntripkey scan s3:// benchmark: {records:,} records in {objects:,} log objects over {days} days, moto on loopback\n")
print(f"  {'':34}{'wall s':>8}{'read':>8}{'objects/s':>11}{'listed':>8}{'skipped':>9}")
for name, label in (("all", "whole bucket"), ("day", "one-day --since/--until window")):
    summary, secs = load(name)
    read = summary["files"]
    skipped = 1 - read / objects
    print(f"  {label:34}{secs:8.2f}{read:8,}{read / secs:11,.0f}{summary['objects_listed']:8,}{skipped:9.1%}")
summary, _ = load("day")
print(f"\n  the window's day holds {in_window:,} objects; the scan read {summary['files']:,} "
      f"(the rest is the lateness margin at the day's edges)")
EOF
