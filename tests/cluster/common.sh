# Shared settings and helpers for tests/cluster/start.sh and stop.sh (sourced, not run).
# Every setting can be overridden from the environment; the defaults avoid SLURM's and
# MariaDB's standard ports so that a real installation on the same machine is left alone.

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE_DIR=$(realpath -m "${1:-${SLURM_TEST_STATE_DIR:-${TMPDIR:-/tmp}/celeba-gender-slurm}}")
CLUSTER_NAME=${SLURM_TEST_CLUSTER:-celebatest}
PARTITION=${SLURM_TEST_PARTITION:-debug}
GPU_COUNT=${SLURM_TEST_GPUS:-2}
SLURMCTLD_PORT=${SLURM_TEST_SLURMCTLD_PORT:-16817}
SLURMD_PORT=${SLURM_TEST_SLURMD_PORT:-16818}
SLURMDBD_PORT=${SLURM_TEST_SLURMDBD_PORT:-16819}
MARIADB_PORT=${SLURM_TEST_MARIADB_PORT:-13306}
WAIT_S=${SLURM_TEST_WAIT_S:-90}
DB_USER=slurm
DB_PASS=slurm-test-only
MARKER="# celeba-gender-test-cluster"

ETC_CONF=/etc/slurm/slurm.conf
CONF=$STATE_DIR/etc/slurm.conf
RUN_DIR=$STATE_DIR/run
LOG_DIR=$STATE_DIR/log
MUNGE_DIR=$STATE_DIR/munge
MUNGE_SOCKET=$MUNGE_DIR/munge.socket.2
SYMLINK_MARKER=$RUN_DIR/etc-slurm-conf-symlink-made-by-start.sh

log() { echo "[slurm-test $(date +%H:%M:%S)] $*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# pid_running PID: true if the process exists and is not a zombie (a dead daemon whose parent,
# e.g. a container's PID 1, never reaps it still answers kill -0).
pid_running() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [[ ${stat##*) } != Z* ]]
}

# pidfile_pid PIDFILE NAME: print the PID in PIDFILE if that process is alive and is NAME.
pidfile_pid() {
    local pidfile=$1 name=$2 pid comm
    [[ -s $pidfile ]] || return 1
    pid=$(tr -dc '0-9' <"$pidfile")
    [[ -n $pid ]] && pid_running "$pid" || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == "$name" ]] || return 1
    echo "$pid"
}
