# tests/train/mpi_lib.sh - mpirun for the data-parallel tests (sourced by t_mpi*.sh after lib.sh):
# as root in a container Open MPI needs --allow-run-as-root, --oversubscribe (more ranks than
# cores) and shared memory without the single-copy mechanism (ptrace is often not allowed).
# Under ASan, LSAN_OPTIONS names tests/train/lsan-mpi.supp: libmpi's own allocations at exit
# (a run that never calls MPI_Init has none: the other tests need no suppressions).

# mpi_available: 0 when mpirun is here, else MPI_SKIP_REASON says why not.
mpi_available() {
	MPI_SKIP_REASON=
	command -v mpirun >/dev/null 2>&1 && return 0
	MPI_SKIP_REASON="no mpirun (apt-get install openmpi-bin)"
	return 1
}

MPI_SUPP="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lsan-mpi.supp"
export LSAN_OPTIONS="suppressions=$MPI_SUPP${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
MPI_FLAGS=(--allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader
	--mca btl_vader_single_copy_mechanism none -x LSAN_OPTIONS)
[ -n "${ASAN_OPTIONS:-}" ] && MPI_FLAGS+=(-x ASAN_OPTIONS)
[ -n "${UBSAN_OPTIONS:-}" ] && MPI_FLAGS+=(-x UBSAN_OPTIONS)

# mpi_run N COMMAND...: COMMAND as N ranks on this host.
mpi_run() { local n=$1; shift; mpirun "${MPI_FLAGS[@]}" -np "$n" "$@"; }
# mpi_run_noleak N COMMAND...: the same without LeakSanitizer (ASan and UBSan stay on): matching
# libmpi's leaks against the suppressions costs ~5 s a run, so only some cases pay for it.
mpi_run_noleak() { LSAN_OPTIONS=detect_leaks=0 mpi_run "$@"; }

# mpi_rank_pids PID [RANK]: the processes below PID that are MPI ranks (of rank RANK only, if given),
# found by the rank mpirun (OMPI_COMM_WORLD_RANK) or srun (PMIX_RANK) put in their environment.
mpi_rank_pids() {
	/usr/bin/python3 - "$1" "${2:-}" <<'PYEOF'
import os, sys
root, want = int(sys.argv[1]), sys.argv[2]
kids = {}
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            st = open(f"/proc/{p}/stat").read()
            kids.setdefault(int(st[st.rindex(")") + 2:].split()[1]), []).append(int(p))
        except OSError:
            pass
todo, found = [root], []
while todo:
    p = todo.pop()
    for c in kids.get(p, []):
        todo.append(c)
        try:
            env = dict(kv.split("=", 1) for kv in open(f"/proc/{c}/environ").read().split("\0") if "=" in kv)
        except OSError:
            continue
        r = env.get("OMPI_COMM_WORLD_RANK", env.get("PMIX_RANK"))
        if r is not None and (want == "" or r == want):
            found.append(str(c))
print(" ".join(found))
PYEOF
}
