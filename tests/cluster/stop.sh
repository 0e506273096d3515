#!/usr/bin/env bash
# Stop the test cluster started by tests/cluster/start.sh [STATE_DIR]: each daemon by its PID
# file only, then remove the /etc/slurm/slurm.conf symlink if start.sh made it. Idempotent.
# Exits 1 (after trying everything) if a daemon survives SIGKILL or the symlink stays.
set -uo pipefail
# shellcheck source=tests/cluster/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"

FAILURES=0
fail() {
    log "ERROR: $*"
    FAILURES=$((FAILURES + 1))
}

# stop_daemons NAME:PIDFILE...: SIGTERM to each, wait up to 30 s for all, then SIGKILL.
stop_daemons() {
    local entry name pidfile pid i pids=()
    for entry in "$@"; do
        name=${entry%%:*}
        pidfile=${entry#*:}
        if pid=$(pidfile_pid "$pidfile" "$name"); then
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null
            pids+=("$pid")
        fi
    done
    for pid in "${pids[@]}"; do
        for ((i = 0; i < 150; i++)); do
            pid_running "$pid" || break
            sleep 0.2
        done
        if pid_running "$pid"; then
            log "pid $pid ignored SIGTERM for 30 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            for ((i = 0; i < 50; i++)); do
                pid_running "$pid" || break
                sleep 0.2
            done
        fi
    done
    # A PID file is removed only once its process is gone.
    for entry in "$@"; do
        name=${entry%%:*}
        pidfile=${entry#*:}
        if pid=$(pidfile_pid "$pidfile" "$name"); then
            fail "$name (pid $pid) is still running after SIGKILL; PID file $pidfile kept"
        else
            rm -f "$pidfile"
        fi
    done
}

# Cancel what is still queued or running, so that no job step outlives slurmd.
cancel_jobs() {
    local i
    pidfile_pid "$RUN_DIR/slurmctld.pid" slurmctld >/dev/null || return 0
    [[ -n $(timeout 10 squeue -h -o %i 2>/dev/null) ]] || return 0
    log "cancelling the cluster's remaining jobs"
    timeout 10 squeue -h -o %i | xargs -r timeout 10 scancel
    for ((i = 0; i < 30; i++)); do
        [[ -z $(timeout 10 squeue -h -t PD,R,CG -o %i 2>/dev/null) ]] && return 0
        sleep 0.5
    done
}

unlink_etc_conf() {
    [[ -e $SYMLINK_MARKER ]] || return 0
    if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]]; then
        if ! rm -f "$ETC_CONF" || [[ -L $ETC_CONF ]]; then
            fail "could not remove the $ETC_CONF symlink"
            return 0
        fi
        log "removed the $ETC_CONF symlink"
    fi
    rm -f "$SYMLINK_MARKER"
}

main() {
    [[ -d $STATE_DIR ]] || {
        log "no state directory $STATE_DIR: nothing to stop"
        return 0
    }
    export SLURM_CONF=$CONF
    cancel_jobs
    # slurmdbd keeps what slurmctld sends it on shutdown; MariaDB and munge go last.
    stop_daemons "slurmd:$RUN_DIR/slurmd.pid" "slurmctld:$RUN_DIR/slurmctld.pid"
    stop_daemons "slurmdbd:$RUN_DIR/slurmdbd.pid"
    stop_daemons "mariadbd:$RUN_DIR/mariadb.pid"
    stop_daemons "munged:$RUN_DIR/munged.pid"
    unlink_etc_conf
    if ((FAILURES > 0)); then
        log "ERROR: $FAILURES problem(s) while stopping the cluster of $STATE_DIR (see above)"
        return 1
    fi
    log "stopped; state kept in $STATE_DIR (delete it for a fresh cluster)"
}

main
