# tests/annotate/annotate_lib.sh - helpers shared by the annotate CLI tests (sourced after tests/lib.sh):
# small prompt/response files, and a private tmux server to drive real sessions through a pty.
A=(annotate)
DB=$T/ann.db
PY=/usr/bin/python3

# mk_prompts FILE N [CATEGORY]: N prompts p1..pN; mk_responses FILE N: two responses each.
mk_prompts() {
	local f=$1 n=$2 cat=${3:-helpfulness} i
	: >"$f"
	for ((i = 1; i <= n; i++)); do
		printf '{"id":"p%d","category":"%s","dialog":[{"role":"user","content":"Question number %d: why is the sky blue?"}]}\n' "$i" "$cat" "$i" >>"$f"
	done
}
mk_responses() {
	local f=$1 n=$2 i
	: >"$f"
	for ((i = 1; i <= n; i++)); do
		printf '{"id":"r%da","prompt_id":"p%d","response":"Answer A to %d: Rayleigh scattering.","model":"m","variant":"sft","temperature":0.7}\n' "$i" "$i" "$i" >>"$f"
		printf '{"id":"r%db","prompt_id":"p%d","response":"Answer B to %d: because it reflects the sea.","model":"m","variant":"rlhf","temperature":0.9}\n' "$i" "$i" "$i" >>"$f"
	done
}
sq() { sqlite3 "$DB" "$@"; }

# tmux on a private socket, killed at exit.
TMUX_SOCK=$T/tmux.sock
trap 'tmux -S "$TMUX_SOCK" kill-server >/dev/null 2>&1; rm -rf "$T"' EXIT
tm() { tmux -S "$TMUX_SOCK" "$@"; }
have_tmux() { command -v tmux >/dev/null 2>&1; }
# tm_start NAME COLS ROWS COMMAND: runs COMMAND in a new detached session; "__EXIT=rc" is printed after it.
tm_start() {
	local name=$1 cols=$2 rows=$3; shift 3
	tm new-session -d -s "$name" -x "$cols" -y "$rows" "$*; echo __EXIT=\$?; sleep 600"
}
tm_screen() { tm capture-pane -p -t "$1"; }
# tm_wait NAME REGEX [SECONDS]: waits until the screen matches; returns 1 on timeout.
tm_wait() {
	local name=$1 re=$2 limit=${3:-20} i
	for ((i = 0; i < limit * 20; i++)); do
		tm_screen "$name" 2>/dev/null | grep -qE -- "$re" && return 0
		sleep 0.05
	done
	echo "timeout waiting for /$re/ on $name; screen:" >&2
	tm_screen "$name" >&2
	return 1
}
tm_keys() { local name=$1; shift; tm send-keys -t "$name" "$@"; }
# The prompt id on screen ("prompt ID  ·  category").
tm_prompt() { tm_screen "$1" | sed -n 's/^prompt \([^ ]*\)  ·.*/\1/p' | head -1; }
# Answer count in the header ("done N").
tm_done() { tm_screen "$1" | sed -n 's/.* · done \([0-9]*\) · .*/\1/p' | head -1; }
