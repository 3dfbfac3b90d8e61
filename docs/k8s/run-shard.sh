#!/bin/sh
# One pod of the sharded gauntlet: run this shard's variants of every test
# and write their JSON records, and the gauntlet manifests that let
# `ktstr report merge` find what is missing, to /results/shard-<index>.
# Kubernetes sets JOB_COMPLETION_INDEX in the pods of an Indexed Job; the
# Job sets KTSTR_SHARDS to its completion count.
set -eu
: "${JOB_COMPLETION_INDEX:?not a pod of an Indexed Job}"
: "${KTSTR_SHARDS:?set KTSTR_SHARDS to the Job's completions}"
export KTSTR_GAUNTLET=1 CI=true
export KTSTR_RESULTS_DIR="${KTSTR_RESULTS_ROOT:-/results}/shard-${JOB_COMPLETION_INDEX}"
mkdir -p "$KTSTR_RESULTS_DIR"
cd "${KTSTR_SRC:-/src/ktstr}"
# A failed test is in the records; the pod still succeeds so that the merge
# step sees every shard.
go test -p 1 -timeout 600m ./... | tee "$KTSTR_RESULTS_DIR/go-test.log" || true
