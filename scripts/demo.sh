#!/usr/bin/env bash
# The quick-start demo: set up (packages, kernel, schedulers; reused from the
# cache when already built), show a guest topology, then run the example
# tests (EEVDF, scx_simple, scx_qmap and a deliberately broken scheduler)
# and summarize their JSON results.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

scripts/setup.sh

echo; echo "== What a 2-node, 4-LLC, 2-thread guest sees =="
./bin/ktstr topo 2n4l1c2t

echo; echo "== The example tests (go test -v ./examples) =="
rm -rf demo-results
KTSTR_RESULTS_DIR="$PWD/demo-results" go test -count=1 -v -run TestDemo ./examples/

echo; echo "== Summary (ktstr report demo-results) =="
./bin/ktstr report --html demo-results/report.html demo-results
echo; echo "== The HTML report: $PWD/demo-results/report.html (open it in a browser) =="
echo; echo "== scx_simple against EEVDF on the same workload (ktstr compare) =="
./bin/ktstr compare --ignore test,scheduler,profile demo-results/TestDemo_eevdf.*.json demo-results/TestDemo_scx_simple.*.json \
	|| echo "(ktstr compare exits 1 when NEW is significantly worse somewhere, as here)"
