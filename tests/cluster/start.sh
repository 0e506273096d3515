#!/usr/bin/env bash
# Start a one-node SLURM test cluster on localhost (idempotent): munged, a private MariaDB,
# slurmdbd, slurmctld and slurmd, with 2 fake GPUs. Usage: tests/cluster/start.sh [STATE_DIR]
# Needs root (Debian packages, mknod, SlurmUser=root). Stop it with tests/cluster/stop.sh.
set -euo pipefail
umask 022
# shellcheck source=tests/cluster/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"

PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != "install ok installed" ]]; then
            echo "$pkg"
        fi
    done
}

install_packages() {
    local missing made_policy=0
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]}"
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        # Keep the packages' init scripts from starting daemons with the stock config.
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    } >"${TMPDIR:-/tmp}/slurm-test-apt.log" 2>&1 || rc=$?
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || die "apt-get failed (rc=$rc), see ${TMPDIR:-/tmp}/slurm-test-apt.log"
}

# render TEMPLATE DEST MODE: fill @NAME@ placeholders; write to a temporary name, then rename.
render() {
    local template=$1 dest=$2 mode=$3 tmp
    tmp=$(mktemp "$dest.XXXXXX")
    sed -e "s|@STATE_DIR@|$STATE_DIR|g" \
        -e "s|@CLUSTER@|$CLUSTER_NAME|g" \
        -e "s|@NODE@|$NODE|g" \
        -e "s|@PARTITION@|$PARTITION|g" \
        -e "s|@SLURMCTLD_PORT@|$SLURMCTLD_PORT|g" \
        -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" \
        -e "s|@SLURMDBD_PORT@|$SLURMDBD_PORT|g" \
        -e "s|@MARIADB_PORT@|$MARIADB_PORT|g" \
        -e "s|@MUNGE_SOCKET@|$MUNGE_SOCKET|g" \
        -e "s|@DB_USER@|$DB_USER|g" \
        -e "s|@DB_PASS@|$DB_PASS|g" \
        -e "s|@CPU_LAYOUT@|$CPU_LAYOUT|g" \
        -e "s|@REAL_MEMORY@|$REAL_MEMORY|g" \
        -e "s|@SLURMD_PARAMETERS@|$SLURMD_PARAMETERS|g" \
        -e "s|@GPU_COUNT@|$GPU_COUNT|g" \
        -e "s|@LAST_GPU@|$((GPU_COUNT - 1))|g" \
        "$CLUSTER_DIR/$template" >"$tmp"
    if grep -q '@[A-Z_]*@' "$tmp"; then
        rm -f "$tmp"
        die "unfilled placeholder in $template: $(grep -o '@[A-Z_]*@' "$CLUSTER_DIR/$template" | head -1)"
    fi
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$dest"
}

port_free() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

port_listening() {
    python3 - "$1" <<'EOF'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
EOF
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.5 s.
wait_until() {
    local seconds=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# start_daemon NAME PIDFILE PORT LOGFILE COMMAND...: start unless running, then check it stays up.
start_daemon() {
    local name=$1 pidfile=$2 port=$3 logfile=$4 pid
    shift 4
    if pid=$(pidfile_pid "$pidfile" "$name"); then
        log "$name already running (pid $pid)"
        return 0
    fi
    if [[ $port != - ]] && ! port_free "$port"; then
        die "$name: port $port is already in use by another process; stop it or set another port (see tests/cluster/README.md)"
    fi
    rm -f "$pidfile"
    log "starting $name"
    setsid "$@" </dev/null >>"$logfile" 2>&1 &
    local launcher=$! deadline=$((SECONDS + 30)) rc
    until pidfile_pid "$pidfile" "$name" >/dev/null; do
        if ! kill -0 "$launcher" 2>/dev/null; then
            rc=0
            wait "$launcher" || rc=$?
            ((rc == 0)) || die "$name exited with status $rc; see $logfile and $LOG_DIR/$name.log"
        fi
        ((SECONDS < deadline)) || die "$name did not start (no live process in $pidfile); see $logfile"
        sleep 0.2
    done
    if [[ $port != - ]]; then
        wait_until 60 "$name port" port_listening "$port" ||
            die "$name is not listening on port $port; see $logfile"
    fi
    sleep 0.5 # a daemon that lost a race for its port dies right after writing its PID file
    pid=$(pidfile_pid "$pidfile" "$name") || die "$name died right after starting; see $logfile"
    log "$name running (pid $pid)"
}

check_etc_conf() {
    if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]]; then
        return 0
    fi
    if [[ -L $ETC_CONF && ! -e $ETC_CONF ]]; then
        return 0 # dangling link: left by a test cluster that was not stopped; replaced below
    fi
    if [[ -e $ETC_CONF || -L $ETC_CONF ]]; then
        die "$ETC_CONF exists and is not this test cluster's; it is left untouched, but jobs" \
            "would read it (the jobstep plugin drops SLURM_CONF before its nested srun)." \
            "Run the SLURM test on a machine without a SLURM installation of its own."
    fi
}

link_etc_conf() {
    if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]]; then
        touch "$SYMLINK_MARKER"
        return 0
    fi
    mkdir -p "$(dirname "$ETC_CONF")"
    ln -sfn "$CONF" "$ETC_CONF"
    touch "$SYMLINK_MARKER"
    log "linked $ETC_CONF -> $CONF"
}

node_layout() {
    local hw mem
    hw=$(env -u SLURM_CONF slurmd -C | head -1)
    CPU_LAYOUT=$(grep -oE '(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=[0-9]+' <<<"$hw" | tr '\n' ' ')
    mem=$(grep -oE 'RealMemory=[0-9]+' <<<"$hw" | cut -d= -f2)
    [[ -n $CPU_LAYOUT && -n $mem ]] || die "cannot read the node layout from 'slurmd -C': $hw"
    REAL_MEMORY=$((mem * 9 / 10)) # more than slurmd finds leaves the node INVAL
    SLURMD_PARAMETERS="#SlurmdParameters=config_overrides (not needed: the machine's own layout)"
    # A declared node bigger than the machine (nothing enforces it: task/none, no cgroups) lets
    # a production profile (e.g. cpus_per_gpu: 4 on 2 GPUs) run unchanged on a small test box.
    if [[ -n ${SLURM_TEST_CPUS:-} ]]; then
        [[ $SLURM_TEST_CPUS =~ ^[1-9][0-9]*$ ]] || die "SLURM_TEST_CPUS must be a positive integer, got '$SLURM_TEST_CPUS'"
        CPU_LAYOUT="CPUs=$SLURM_TEST_CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$SLURM_TEST_CPUS ThreadsPerCore=1"
        SLURMD_PARAMETERS=SlurmdParameters=config_overrides
    fi
    if [[ -n ${SLURM_TEST_MEMORY_MB:-} ]]; then
        [[ $SLURM_TEST_MEMORY_MB =~ ^[1-9][0-9]*$ ]] || die "SLURM_TEST_MEMORY_MB must be a positive integer, got '$SLURM_TEST_MEMORY_MB'"
        REAL_MEMORY=$SLURM_TEST_MEMORY_MB
        SLURMD_PARAMETERS=SlurmdParameters=config_overrides
    fi
}

# munged refuses a socket below a directory that others cannot enter (e.g. pytest's tmp dirs).
check_state_dir_reachable() {
    local dir
    dir=$(dirname "$STATE_DIR")
    while [[ $dir != / ]]; do
        if [[ -d $dir && -z $(find "$dir" -maxdepth 0 -perm -o=x) ]]; then
            die "$dir is not searchable by others (mode $(stat -c %a "$dir")); munged refuses a" \
                "socket below it. Choose a STATE_DIR whose parents are all o+x, e.g. under /tmp."
        fi
        dir=$(dirname "$dir")
    done
}

prepare_state() {
    mkdir -p "$STATE_DIR"/{etc,run,log,dev,slurmctld,slurmd,mysql} "$MUNGE_DIR"
    chmod 755 "$STATE_DIR" "$MUNGE_DIR"
    if [[ ! -s $STATE_DIR/etc/munge.key ]]; then
        mungekey --create --keyfile="$STATE_DIR/etc/munge.key"
    fi
    chown root:root "$STATE_DIR/etc/munge.key"
    chmod 600 "$STATE_DIR/etc/munge.key"
    local i
    for ((i = 0; i < GPU_COUNT; i++)); do
        [[ -c $STATE_DIR/dev/fakegpu$i ]] || mknod "$STATE_DIR/dev/fakegpu$i" c 1 3
    done
    render slurm.conf.in "$CONF.candidate" 644
    if [[ -e $CONF ]] && ! cmp -s "$CONF" "$CONF.candidate" &&
        pidfile_pid "$RUN_DIR/slurmctld.pid" slurmctld >/dev/null; then
        rm -f "$CONF.candidate"
        die "the running test cluster has another configuration (node size, ports, partition);" \
            "stop it first: tests/cluster/stop.sh $STATE_DIR"
    fi
    mv -f "$CONF.candidate" "$CONF"
    render gres.conf.in "$STATE_DIR/etc/gres.conf" 644
    render slurmdbd.conf.in "$STATE_DIR/etc/slurmdbd.conf" 600
    render mariadb-init.sql.in "$STATE_DIR/etc/mariadb-init.sql" 600
}

start_mariadb() {
    local datadir=$STATE_DIR/mysql
    if [[ ! -d $datadir/mysql ]]; then
        log "initialising MariaDB in $datadir"
        mariadb-install-db --no-defaults --user=root --datadir="$datadir" \
            --auth-root-authentication-method=socket >>"$LOG_DIR/mariadb-install.log" 2>&1 ||
            die "mariadb-install-db failed; see $LOG_DIR/mariadb-install.log"
    fi
    start_daemon mariadbd "$RUN_DIR/mariadb.pid" "$MARIADB_PORT" "$LOG_DIR/mariadb.log" \
        mariadbd --no-defaults --user=root --datadir="$datadir" \
        --bind-address=127.0.0.1 --port="$MARIADB_PORT" --socket="$RUN_DIR/mariadb.sock" \
        --pid-file="$RUN_DIR/mariadb.pid" --log-error="$LOG_DIR/mariadb.log" \
        --init-file="$STATE_DIR/etc/mariadb-init.sql" --skip-name-resolve \
        --innodb-buffer-pool-size=64M --innodb-log-file-size=16M
    wait_until 30 "MariaDB login" mariadb --no-defaults --protocol=tcp -h 127.0.0.1 \
        -P "$MARIADB_PORT" -u "$DB_USER" "-p$DB_PASS" -e 'SELECT 1' ||
        die "MariaDB does not accept the slurmdbd login; see $LOG_DIR/mariadb.log"
}

node_state() { sinfo -h -n "$NODE" -o %t 2>/dev/null | head -1; }
node_idle() { [[ $(node_state) == idle ]]; }
cluster_registered() { sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER_NAME"; }
# sacct without slurmdbd says "accounting storage is disabled" on stderr.
sacct_answers() {
    local err
    err=$(sacct -n -X -a -S now-1hours 2>&1 >/dev/null) || return 1
    [[ -z $err ]]
}

main() {
    local t0=$SECONDS
    [[ $(id -u) == 0 ]] || die "must run as root (SlurmUser=root, apt-get, mknod)"
    NODE=$(hostname -s)
    check_etc_conf
    install_packages
    check_state_dir_reachable
    node_layout
    prepare_state
    export SLURM_CONF=$CONF

    start_daemon munged "$RUN_DIR/munged.pid" - "$LOG_DIR/munged.out" \
        munged --socket="$MUNGE_SOCKET" --key-file="$STATE_DIR/etc/munge.key" \
        --pid-file="$RUN_DIR/munged.pid" --log-file="$LOG_DIR/munged.log" \
        --seed-file="$MUNGE_DIR/munged.seed"
    start_mariadb
    start_daemon slurmdbd "$RUN_DIR/slurmdbd.pid" "$SLURMDBD_PORT" "$LOG_DIR/slurmdbd.out" slurmdbd
    start_daemon slurmctld "$RUN_DIR/slurmctld.pid" "$SLURMCTLD_PORT" "$LOG_DIR/slurmctld.out" \
        slurmctld -f "$CONF"
    start_daemon slurmd "$RUN_DIR/slurmd.pid" "$SLURMD_PORT" "$LOG_DIR/slurmd.out" \
        slurmd -f "$CONF" -N "$NODE"
    link_etc_conf

    wait_until "$WAIT_S" "node idle" node_idle ||
        die "node $NODE is '$(node_state)', not idle: $(scontrol show node "$NODE" | grep -i reason)"
    wait_until "$WAIT_S" "cluster in slurmdbd" cluster_registered ||
        die "cluster $CLUSTER_NAME not registered in slurmdbd; see $LOG_DIR/slurmdbd.log"
    wait_until "$WAIT_S" "sacct" sacct_answers || die "sacct does not answer: $(sacct -n -X 2>&1 | head -3)"
    log "cluster '$CLUSTER_NAME' ready in $((SECONDS - t0)) s: node $NODE idle in partition" \
        "'$PARTITION' with $GPU_COUNT fake GPUs; state in $STATE_DIR"
    echo "export SLURM_CONF=$CONF"
}

main
