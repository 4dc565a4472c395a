#!/usr/bin/env bash
# API benchmark: /api/v1 on loopback with the offline issuer and SQLite, 4 concurrent clients:
# the issuing rate (10,000 canaries through POST /api/v1/canaries), then p50 and p99 of listing
# canaries (by label and all) and open alerts (10,000), first page, pages reached through the
# cursor, and the last page.
#
# Usage: benches/api.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -j2 -p server --bench api
