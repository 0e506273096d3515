#!/usr/bin/env bash
# Start the test cluster, run a workflow through profiles/slurm (+ the test overlay), list its
# SLURM jobs, and stop the cluster again (unless --keep). Exits with Snakemake's status.
#
# Usage: tests/cluster/run_workflow_test.sh [--keep] [SNAKEMAKE ARGS...]
#   no arguments: the mini workflow (tests/cluster/mini) in a fresh temporary folder
#   e.g.: tests/cluster/run_workflow_test.sh --directory /tmp/demo --configfile my.yaml
#         (run from the repository root; --snakefile defaults to ./Snakefile as usual)
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KEEP=0
if [[ ${1:-} == --keep ]]; then
    KEEP=1
    shift
fi
# The same declared node as tests/test_slurm.py: room for profiles/slurm's GPU rules unchanged.
export SLURM_TEST_CPUS=${SLURM_TEST_CPUS:-8} SLURM_TEST_MEMORY_MB=${SLURM_TEST_MEMORY_MB:-36000}
MADE_STATE_DIR=0
if [[ -z ${SLURM_TEST_STATE_DIR:-} ]]; then
    STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/celeba-gender-slurm-XXXXXX")
    chmod 755 "$STATE_DIR"
    MADE_STATE_DIR=1
else
    STATE_DIR=$SLURM_TEST_STATE_DIR
fi
rc=1

# Stop the cluster; delete a state folder made here once everything succeeded.
finish() {
    "$REPO/tests/cluster/stop.sh" "$STATE_DIR" || return
    if ((MADE_STATE_DIR && rc == 0)); then
        rm -rf "$STATE_DIR"
    else
        echo "cluster logs kept in $STATE_DIR/log" >&2
    fi
}

if ((KEEP)); then
    echo "cluster kept running; stop it with: tests/cluster/stop.sh $STATE_DIR" >&2
else
    trap finish EXIT
fi

t0=$SECONDS
"$REPO/tests/cluster/start.sh" "$STATE_DIR" >/dev/null || exit 1
export SLURM_CONF=$STATE_DIR/etc/slurm.conf
t_cluster=$((SECONDS - t0))

args=("$@")
if ((${#args[@]} == 0)); then
    workdir=$(mktemp -d "${TMPDIR:-/tmp}/celeba-gender-mini-XXXXXX")
    args=(--snakefile "$REPO/tests/cluster/mini/Snakefile" --directory "$workdir")
fi
since=$(date +%Y-%m-%dT%H:%M:%S)
t1=$SECONDS
timeout -k 10 "${SNAKEMAKE_TIMEOUT_S:-600}" python3 -m snakemake \
    --profile "$REPO/profiles/slurm" --workflow-profile "$REPO/tests/cluster/overlay" "${args[@]}"
rc=$?
t_run=$((SECONDS - t1))

sacct --allocations --allusers --starttime "$since" \
    --format=JobID,Comment%45,State,ExitCode,Start,End,AllocTRES%45
echo "cluster start: ${t_cluster} s, snakemake: ${t_run} s, exit status: $rc" >&2
exit "$rc"
