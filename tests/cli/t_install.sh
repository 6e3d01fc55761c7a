#!/usr/bin/env bash
# t_install.sh - `make install` / `make uninstall` into a temporary DESTDIR: the program, a man page for
# every command and subcommand (generated from --help, readable by man), bash completion that
# completes commands, subcommands and options, the Python shard reader; uninstall removes exactly those.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mk() { env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C "$ROOT" INSTALL_BIN="$SPINDLE" MANDIR="$T/man" DESTDIR="$T/root" PREFIX=/usr "$@"; }
D=$T/root/usr
cd "$T"

check "make install into DESTDIR" mk install
check "the installed program runs" "$D/bin/spindle" --version
n_cmds=$("$SPINDLE" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { n++ } END { print n }')
missing=
for c in $("$SPINDLE" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'); do
	[ -f "$D/share/man/man1/spindle-$c.1" ] || missing+=" $c"
done
check_eq "a man page for each of the $n_cmds commands" "" "$missing"
for p in spindle-train-sft spindle-dedup-minhash spindle-shards-export spindle-tok-encode spindle-annotate-session; do
	[ -f "$D/share/man/man1/$p.1" ] && ok "subcommand page $p" || not_ok "subcommand page $p"
done
if command -v man >/dev/null; then
	MANPATH=$D/share/man MANWIDTH=100 man spindle-filter > filter.txt 2> filter.err
	check_grep "man spindle-filter renders (name line)" "spindle-filter - quality" filter.txt
	check_grep "... with every option of --help (e.g. --rejects)" "\-\-rejects FILE" filter.txt
	if [ ! -s filter.err ]; then ok "... without groff warnings"; else not_ok "... without groff warnings" "$(head -3 filter.err)"; fi
else
	skip "man spindle-filter renders" "no man program"
fi
bad=
for f in "$D"/share/man/man1/*.1; do
	w=$(groff -man -Tutf8 -ww -z "$f" 2>&1 | head -1)
	[ -z "$w" ] || bad+="$(basename "$f"): $w; "
done
check_eq "every page is valid roff (groff -ww)" "" "$bad"

# completion: source it and ask it, as bash would
comp() { # words...; prints the candidates
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _spindle; printf "%s\n" "${COMPREPLY[@]}"' _ \
		"$D/share/bash-completion/completions/spindle" "$D/bin/spindle" "$@" | LC_ALL=C sort | tr '\n' ' '
}
check_eq "completion: commands" "train " "$(comp tra)"
check_eq "completion: subcommands" "sample score sft " "$(comp train s)"
check_eq "completion: options" "--threads --threshold " "$(comp dedup minhash --thr)"
check_eq "completion: shards subcommands" "export " "$(comp shards ex)"
PYTHONPATH=$D/share/spindle/python /usr/bin/python3 -c 'import spindle_shards' && ok "the Python module imports from the install" || not_ok "the Python module imports from the install"

n=$(wc -l < "$D/share/spindle/installed.txt")
check "make uninstall" mk uninstall
left=$(find "$T/root" -type f | wc -l)
check_eq "uninstall removes all $n files it installed" "0" "$left"
check_rc "uninstall of nothing says so" 2 mk uninstall
check_grep "... naming the prefix" "nothing installed under" "$T/.out"
