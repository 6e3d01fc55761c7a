# tests/cluster/slurm.sh - a private single-node Slurm cluster for tests; source it, then:
#   slurm_up || { skip NAME "$SLURM_SKIP_REASON"; exit 0; }; trap 'slurm_down; rm -rf "$T"' EXIT
# slurm_up starts munged, slurmctld -D and slurmd -D as root in a temp folder ($SLURM_DIR) on free
# ports with its own munge socket, exports SLURM_CONF and waits until the node is idle; slurm_down
# cancels the jobs, stops exactly the daemons it started (and their job step daemons) and is safe
# to call twice. A watchdog stops them too if the calling shell dies without running its trap.
# Knobs: SLURM_CPUS (node CPUs, default nproc, at least 2), SLURM_EXTRA_CONF (lines appended to
# slurm.conf, e.g. "MaxArraySize=4"), SLURM_UP_TIMEOUT (seconds to wait for an idle node, 60).

SLURM_DIR=
SLURM_SKIP_REASON=
_slurm_pids=()
_slurm_munged_pid=
_slurm_watchdog=

# _slurm_free_port: prints a TCP port in 20000-59999 that nothing listens on.
_slurm_free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if ! grep -qi ":$(printf '%04X' "$p") " /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# _slurm_leftovers: processes of this cluster that outlive slurmd: its slurmstepd daemons (they
# hold slurmd's log under $SLURM_DIR open) and the job processes (SLURM_JOB_ID set and SLURM_CONF
# naming this cluster's slurm.conf).
_slurm_leftovers() {
	local c pid
	for c in /proc/[0-9]*/comm; do
		pid=${c#/proc/}
		pid=${pid%/comm}
		[ "$pid" = "$$" ] && continue
		if [ "$({ cat "$c"; } 2>/dev/null)" = slurmstepd ]; then
			{ ls -l "/proc/$pid/fd"; } 2>/dev/null | grep -qF -- "-> $SLURM_DIR/" && echo "$pid"
		elif { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null |
			grep -cxE "SLURM_CONF=$SLURM_DIR/slurm.conf|SLURM_JOB_ID=[0-9]+" | grep -qx 2; then
			echo "$pid"
		fi
	done
}

# _slurm_stop: cancel the jobs, shut the cluster down, then stop by PID what is left (slurm_down
# and the watchdog share it).
_slurm_stop() {
	local p i alive
	if [ ${#_slurm_pids[@]} -gt 0 ] && kill -0 "${_slurm_pids[0]}" 2>/dev/null; then
		scancel --full --quiet --partition=debug >/dev/null 2>&1
		for i in $(seq 1 20); do
			[ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
			sleep 0.25
		done
		scontrol shutdown >/dev/null 2>&1
	fi
	for i in $(seq 1 40); do
		alive=
		for p in "${_slurm_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -z "$alive" ] && break
		sleep 0.25
	done
	for p in "${_slurm_pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in $(_slurm_leftovers); do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in $(_slurm_leftovers); do kill -9 "$p" 2>/dev/null; done
	if [ -n "$_slurm_munged_pid" ]; then
		kill "$_slurm_munged_pid" 2>/dev/null
		for i in $(seq 1 20); do kill -0 "$_slurm_munged_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$_slurm_munged_pid" 2>/dev/null
	fi
	return 0
}

slurm_up() {
	SLURM_SKIP_REASON=
	if [ "$(id -u)" -ne 0 ]; then
		SLURM_SKIP_REASON="needs root to run slurmd"
		return 1
	fi
	local b
	for b in munged slurmctld slurmd sbatch sinfo scontrol squeue scancel; do
		if ! command -v "$b" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$b" ]; then
			SLURM_SKIP_REASON="$b not installed (scripts/deps.sh installs munge slurmctld slurmd slurm-client)"
			return 1
		fi
	done
	local sbin=/usr/sbin
	SLURM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/spindle-slurm.XXXXXX") || {
		SLURM_SKIP_REASON="cannot make a temp folder"
		return 1
	}
	chmod 700 "$SLURM_DIR"
	mkdir -p "$SLURM_DIR/munge" "$SLURM_DIR/state" "$SLURM_DIR/spool" "$SLURM_DIR/log"
	chmod 700 "$SLURM_DIR/munge"
	# munge: own key, socket, pid and seed files.
	head -c 1024 /dev/urandom >"$SLURM_DIR/munge/munge.key"
	chmod 400 "$SLURM_DIR/munge/munge.key"
	local sock=$SLURM_DIR/munge/munge.socket
	"$sbin/munged" --force --socket="$sock" --key-file="$SLURM_DIR/munge/munge.key" \
		--pid-file="$SLURM_DIR/munge/munged.pid" --seed-file="$SLURM_DIR/munge/munged.seed" \
		--log-file="$SLURM_DIR/log/munged.log" </dev/null >"$SLURM_DIR/log/munged.out" 2>&1
	local i
	for i in $(seq 1 50); do
		[ -s "$SLURM_DIR/munge/munged.pid" ] && [ -S "$sock" ] && break
		sleep 0.1
	done
	_slurm_munged_pid=$(cat "$SLURM_DIR/munge/munged.pid" 2>/dev/null)
	if [ -z "$_slurm_munged_pid" ]; then
		SLURM_SKIP_REASON="munged did not start: $(tail -2 "$SLURM_DIR/log/munged.log" "$SLURM_DIR/log/munged.out" 2>/dev/null | tr '\n' ' ')"
		slurm_down
		return 1
	fi

	local cport dport cpus mem host mpi=none
	cport=$(_slurm_free_port) && dport=$(_slurm_free_port) || {
		SLURM_SKIP_REASON="no free TCP port"
		slurm_down
		return 1
	}
	[ "$dport" = "$cport" ] && dport=$((cport + 1))
	cpus=${SLURM_CPUS:-$(nproc)}
	[ "$cpus" -lt 2 ] && cpus=2
	mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
	host=$(hostname -s)
	for b in /usr/lib/*/slurm-wlm/mpi_pmix.so /usr/lib/slurm/mpi_pmix.so; do [ -e "$b" ] && mpi=pmix; done
	: >"$SLURM_DIR/plugstack.conf"
	cat >"$SLURM_DIR/slurm.conf" <<EOF
# written by tests/cluster/slurm.sh for one test run
ClusterName=spindle$$
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool/%n
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
PlugStackConfig=$SLURM_DIR/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=$mpi
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=2
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=node1 NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=node1 Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
${SLURM_EXTRA_CONF:-}
EOF
	export SLURM_CONF=$SLURM_DIR/slurm.conf
	"$sbin/slurmctld" -D -i -f "$SLURM_CONF" \
		</dev/null >"$SLURM_DIR/log/slurmctld.out" 2>&1 &
	_slurm_pids+=($!)
	"$sbin/slurmd" -D -N node1 -f "$SLURM_CONF" \
		</dev/null >"$SLURM_DIR/log/slurmd.out" 2>&1 &
	_slurm_pids+=($!)
	# Watchdog: if this shell dies without slurm_down (kill -9 of the test), stop the cluster.
	local parent=$$
	(
		trap '' HUP INT TERM
		while kill -0 "$parent" 2>/dev/null && [ -d "$SLURM_DIR" ]; do sleep 1; done
		[ -d "$SLURM_DIR" ] || exit 0
		_slurm_stop
		[ -n "${SLURM_KEEP_DIR:-}" ] || rm -rf "$SLURM_DIR"
	) </dev/null >/dev/null 2>&1 &
	_slurm_watchdog=$!

	local timeout=${SLURM_UP_TIMEOUT:-60} st=
	for i in $(seq 1 $((timeout * 4))); do
		st=$(sinfo -h -N -o '%T' 2>/dev/null | head -1)
		[ "$st" = idle ] && return 0
		local p
		for p in "${_slurm_pids[@]}"; do
			if ! kill -0 "$p" 2>/dev/null; then
				SLURM_SKIP_REASON="a Slurm daemon exited: $(tail -3 "$SLURM_DIR"/log/slurm*.log "$SLURM_DIR"/log/slurm*.out 2>/dev/null | tr '\n' ' ' | tail -c 600)"
				slurm_down
				return 1
			fi
		done
		sleep 0.25
	done
	SLURM_SKIP_REASON="node not idle after ${timeout}s (state '$st'): $(tail -2 "$SLURM_DIR/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"
	slurm_down
	return 1
}

# slurm_down: stop the cluster and its leftovers (see _slurm_stop), remove the folder; safe twice.
slurm_down() {
	[ -n "$SLURM_DIR" ] && [ -d "$SLURM_DIR" ] || return 0
	local p
	_slurm_stop
	for p in "${_slurm_pids[@]}"; do wait "$p" 2>/dev/null; done
	if [ -n "$_slurm_watchdog" ]; then
		kill -9 "$_slurm_watchdog" 2>/dev/null
		wait "$_slurm_watchdog" 2>/dev/null
	fi
	[ -n "${SLURM_KEEP_DIR:-}" ] || rm -rf "$SLURM_DIR"
	SLURM_DIR=
	_slurm_pids=()
	_slurm_munged_pid=
	_slurm_watchdog=
	return 0
}
