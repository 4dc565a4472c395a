#!/usr/bin/env bash
# Scan benchmark: `tripkey scan` with one thread and with all cores, against single-threaded
# `gzip -dc` over the same files and against libdeflate, the fastest inflater here, on 1 core
# and on 2 (two `libdeflate-gunzip -c` processes, each given half the files in one
# invocation): the floor, since a scanner has to decompress every byte. On a generated
# CloudTrail corpus with planted incidents; then checks the alerts against the corpus's
# ground truth. libdeflate-gunzip comes from Debian's libdeflate-tools, installed when
# missing (root or passwordless sudo); without it those rows are skipped.
#
# Usage: benches/scan.sh [--small]
#   --small        a quick check on a ~80 MB corpus (target/bench-corpus-small)
# Environment:
#   RECORDS=N      corpus size in records (default 640000, about 1 GB of JSON; 50000 with --small)
#   SEED=S         corpus seed (default 1)
#   MAX_LATENESS=M deliver files up to M minutes late (default 0), as lagging trails do; the
#                  correctness check then shows what arrival order costs the detectors
#   RUNS=K         timed runs per command, best taken (default 3)
#   STRICT=1       exit 1 when a target or the correctness check fails
#   TRIPKEY=PATH   the tripkey binary to measure (default: the release build)
#
# The corpus is generated once and reused while its manifest matches RECORDS, SEED and
# MAX_LATENESS and the generator binary is not newer than it.
set -uo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

small=0
for arg in "$@"; do
    case "$arg" in
        --small) small=1 ;;
        -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "scan.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done

if ((small)); then
    records=${RECORDS:-50000}
    corpus=$root/target/bench-corpus-small
else
    records=${RECORDS:-640000}
    corpus=$root/target/bench-corpus
fi
seed=${SEED:-1}
max_lateness=${MAX_LATENESS:-0}
runs=${RUNS:-3}
threads=$(nproc)
target_dir=${CARGO_TARGET_DIR:-$root/target}
tripkey=${TRIPKEY:-$target_dir/release/tripkey}
generator=$target_dir/release/tripkey-corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say() { printf '%s\n' "$*" >&2; }

# --- build ------------------------------------------------------------------------------------
say "building release binaries..."
scan_available=1
if ! cargo build --release -j2 -p tripkey -p tripkey-corpus 2>"$work/build.log"; then
    say "building tripkey failed; building the corpus generator alone (the scan part will be skipped):"
    tail -n 20 "$work/build.log" >&2
    scan_available=0
    cargo build --release -j2 -p tripkey-corpus || { say "cannot build tripkey-corpus"; exit 2; }
fi
if ((scan_available)) && ! "$tripkey" scan --help >"$work/scan-help" 2>&1; then
    say "ERROR: $tripkey has no working 'scan' subcommand yet ('tripkey scan --help' failed):"
    head -n 5 "$work/scan-help" >&2
    scan_available=0
fi

# --- corpus -----------------------------------------------------------------------------------
manifest_value() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$corpus/manifest.json" "$1" 2>/dev/null
}
if [[ "$(manifest_value records)" != "$records" || "$(manifest_value seed)" != "$seed" \
    || "$(manifest_value max_lateness_minutes)" != "$max_lateness" \
    || "$generator" -nt "$corpus/manifest.json" ]]; then
    say "generating $records records into $corpus ..."
    "$generator" --records "$records" --seed "$seed" --max-lateness "$max_lateness" \
        --out "$corpus" --force >&2 || exit 2
fi
logs=$corpus/AWSLogs
bytes=$(manifest_value bytes_uncompressed)
gz_bytes=$(manifest_value bytes_gzip)
files=$(manifest_value files)

# --- timing -----------------------------------------------------------------------------------
# measure NAME CMD...: best wall time of $runs runs (seconds) into $work/NAME.wall, the peak
# RSS (KB) of the best run into $work/NAME.rss, and the exit codes into $work/NAME.rc.
measure() {
    local name=$1 best="" rss="" rc start end wall
    shift
    : >"$work/$name.rc"
    for ((i = 0; i < runs; i++)); do
        start=$(date +%s%N)
        if [[ -x /usr/bin/time ]]; then
            /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>"$work/$name.err"
            rc=$?
        else
            python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1], "w"))
open(sys.argv[1] + ".rss", "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)' "$work/$name.err" "$@"
            rc=$?
            mv "$work/$name.err.rss" "$work/rss"
        fi
        end=$(date +%s%N)
        wall=$(((end - start) / 1000000))
        echo "$rc" >>"$work/$name.rc"
        if [[ -z "$best" || $wall -lt $best ]]; then
            best=$wall
            rss=$(tail -n 1 "$work/rss")
        fi
    done
    echo "$best" >"$work/$name.wall"
    echo "$rss" >"$work/$name.rss"
}

gzip_floor() {
    find "$1" -name '*.json.gz' ! -path '*Digest*' -print0 | xargs -0 cat | gzip -dc
}
export -f gzip_floor

# libdeflate_floor DIR PARTS: PARTS processes at once, each inflating every PARTS-th file in
# one libdeflate-gunzip invocation (xargs splits only past the argument limit).
libdeflate_floor() {
    local part
    for ((part = 0; part < $2; part++)); do
        find "$1" -name '*.json.gz' ! -path '*Digest*' -print0 | sort -z \
            | awk -v RS='\0' -v ORS='\0' -v n="$2" -v k="$part" 'NR % n == k' \
            | xargs -0 libdeflate-gunzip -c >/dev/null &
    done
    wait
}
export -f libdeflate_floor

as_root() {
    if ((EUID == 0)); then "$@"; elif sudo -n true 2>/dev/null; then sudo -n "$@"; else return 1; fi
}
if ! command -v libdeflate-gunzip >/dev/null; then
    say "installing libdeflate-tools (libdeflate-gunzip) for the libdeflate floor..."
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        libdeflate-tools >"$work/apt.log" 2>&1 </dev/null \
        || say "cannot install libdeflate-tools; the libdeflate rows are skipped"
fi
libdeflate_available=0
command -v libdeflate-gunzip >/dev/null && libdeflate_available=1

say "warming the page cache..."
find "$logs" -name '*.json.gz' -print0 | xargs -0 cat >/dev/null

say "timing gzip -dc (best of $runs)..."
measure gzip bash -c 'gzip_floor "$1"' _ "$logs"
if ((libdeflate_available)); then
    for parts in 1 2; do
        say "timing libdeflate-gunzip on $parts core(s) (best of $runs)..."
        measure "libdeflate$parts" bash -c 'libdeflate_floor "$1" "$2"' _ "$logs" "$parts"
    done
fi

scan_flags=(--format jsonl --canaries "$corpus/canaries.toml")
if ((scan_available)) && grep -q -- '--no-progress' "$work/scan-help"; then
    scan_flags+=(--no-progress)
fi
# The canaries file alone, not also those of whatever canary database this user has.
if ((scan_available)) && grep -q -- '--no-store' "$work/scan-help"; then
    scan_flags+=(--no-store)
fi
if ((scan_available)); then
    for t in 1 "$threads"; do
        say "timing tripkey scan --threads $t (best of $runs)..."
        measure "scan$t" "$tripkey" scan --threads "$t" "${scan_flags[@]}" "$logs"
        # Exit status 1 means "alerts found"; anything else is a failure.
        if grep -qv '^[01]$' "$work/scan$t.rc"; then
            say "ERROR: tripkey scan --threads $t exited with $(sort -u "$work/scan$t.rc" | tr '\n' ' ')"
            tail -n 5 "$work/scan$t.err" >&2
            scan_available=0
        fi
    done
fi

# --- report -----------------------------------------------------------------------------------
failed=0
python3 - "$work" "$records" "$bytes" "$gz_bytes" "$files" "$threads" "$runs" "$scan_available" "$small" "$corpus" "$libdeflate_available" <<'EOF' || failed=1
import os, sys
work, records, nbytes, gz, files, threads, runs, scan_ok, small, corpus, lib_ok = sys.argv[1:]
records, nbytes, gz, files, threads, scan_ok, small, lib_ok = map(int, (records, nbytes, gz, files, threads, scan_ok, small, lib_ok))
def read(name):
    with open(os.path.join(work, name)) as f:
        return f.read().strip()
gzip_s = int(read("gzip.wall")) / 1000
print(f"\ntripkey scan benchmark: {corpus}")
print(f"  {records:,} records in {files:,} objects, {nbytes / 1e6:,.1f} MB JSON ({gz / 1e6:,.1f} MB gzip); "
      f"{threads} cores; best of {runs} runs, warm page cache\n")
print(f"  {'':22}{'wall s':>8}{'records/s':>12}{'MB/s':>9}{'vs gzip':>9}{'peak RSS':>10}   targets")
def row(label, secs, rss_kb, targets):
    rss = f"{rss_kb / 1024:.0f} MB" if rss_kb else "-"
    print(f"  {label:22}{secs:8.2f}{records / secs:12,.0f}{nbytes / 1e6 / secs:9.1f}"
          f"{gzip_s / secs:8.2f}x{rss:>10}   {targets}")
row("gzip -dc (1 thread)", gzip_s, 0, "the old floor")
floors = {}
if lib_ok:
    for parts in (1, 2):
        floors[parts] = int(read(f"libdeflate{parts}.wall")) / 1000
        row(f"libdeflate ({parts} core{'s' if parts > 1 else ''})", floors[parts], 0, "the floor")
failed = False
if scan_ok:
    for t, floor in ((1, 1), (threads, 2)):
        secs = int(read(f"scan{t}.wall")) / 1000
        rss = int(read(f"scan{t}.rss") or 0)
        rss_ok = rss < 200 * 1024
        rss_note = "" if not small else " (target is for the 1 GB corpus)"
        if floor in floors:
            ratio = floors[floor] / secs
            speed_ok = ratio >= 0.5
            speed = f"{ratio:.2f}x the {floor}-core libdeflate floor (>= 0.5): {'PASS' if speed_ok else 'FAIL'}"
        else:
            speed_ok, speed = True, "no libdeflate floor measured"
        failed |= not speed_ok or (not rss_ok and not small)
        row(f"scan --threads {t}", secs, rss,
            f"{speed}; RSS < 200 MB: {'PASS' if rss_ok else 'FAIL'}{rss_note}")
    print("  (vs gzip: throughput relative to gzip -dc, i.e. gzip wall / wall)")
else:
    print("  scan --threads 1/N     not run: tripkey scan is unavailable (see the error above)")
    failed = True
sys.exit(1 if failed else 0)
EOF

if ((scan_available)); then
    for t in 1 "$threads"; do
        "$tripkey" scan --threads "$t" "${scan_flags[@]}" "$logs" >"$work/alerts$t.jsonl" 2>"$work/alerts$t.err"
        rc=$?
        printf '\n  [--threads %s] ' "$t"
        if ((rc > 1)); then
            echo "correctness: scan failed with exit status $rc"
            failed=1
            continue
        fi
        python3 benches/compare_alerts.py "$corpus/ground-truth.json" "$work/alerts$t.jsonl" | sed '2,$s/^/  /' || failed=1
    done
    if ! cmp -s <(sort "$work/alerts1.jsonl") <(sort "$work/alerts$threads.jsonl"); then
        echo "  note: --threads 1 and --threads $threads wrote different alerts"
    fi
else
    failed=1
fi

if ((scan_available == 0)); then
    exit 2
fi
if [[ "${STRICT:-0}" == 1 ]] && ((failed)); then
    exit 1
fi
exit 0
