#!/usr/bin/env bash
# scripts/man.sh - man pages from the commands' own --help, so they never drift from the code:
# spindle(1), spindle-CMD(1) for every command and spindle-CMD-SUB(1) for every subcommand.
# usage: scripts/man.sh BIN OUTDIR      (the Makefile's `man` target; `make install` installs them)
set -euo pipefail
bin=$1 out=$2
mkdir -p "$out"
version=$("$bin" --version 2>/dev/null | awk '{print $NF}') || version=unknown
date=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" +%Y-%m-%d)

# roff from a --help text: the usage line as SYNOPSIS, the prose as DESCRIPTION, "Options:" lines as
# tagged paragraphs (an option whose description starts on the next line too), the rest verbatim.
to_roff() { # NAME TITLE < help
	awk -v name="$1" -v title="$2" -v version="$version" -v date="$date" '
	function esc(s) { gsub(/\\/, "\\e", s); gsub(/-/, "\\-", s); if (s ~ /^[.\047]/) s = "\\&" s; return s }
	BEGIN { printf ".TH %s 1 \"%s\" \"spindle %s\" \"spindle manual\"\n.SH NAME\n%s \\- %s\n", toupper(name), date, version, esc(name), esc(title); sec = "" }
	NR == 1 && /^usage: / { sub(/^usage: /, ""); printf ".SH SYNOPSIS\n.nf\n%s\n.fi\n", esc($0); next }
	/^ *usage: / { sub(/^ *usage: /, ""); printf ".nf\n%s\n.fi\n", esc($0); next }
	/^Options:$/ { if (pre) { print ".fi"; pre = 0 } print ".SH OPTIONS"; sec = "opt"; next }
	/^Commands:$/ || /Commands:$/ { if (pre) { print ".fi"; pre = 0 } if ($0 != "Commands:") { if (sec == "") { print ".SH DESCRIPTION"; sec = "desc" } print esc(substr($0, 1, length($0) - 10)) } print ".SH COMMANDS"; sec = "cmd"; next }
	/^Exit codes:/ { if (pre) { print ".fi"; pre = 0 } print ".SH EXIT STATUS"; sub(/^Exit codes: */, ""); print esc($0); sec = "exit"; next }
	sec == "opt" && /^  +-/ {
		line = $0; sub(/^ +/, "", line)
		if (match(line, /   +/)) { tag = substr(line, 1, RSTART - 1); desc = substr(line, RSTART + RLENGTH) }
		else { tag = line; desc = "" }
		printf ".TP\n.B %s\n", esc(tag); if (desc != "") print esc(desc); next }
	sec == "opt" && /^   +/ { line = $0; sub(/^ +/, "", line); print esc(line); next }
	sec == "cmd" && /^  +[a-z]/ {
		line = $0; sub(/^ +/, "", line)
		if (match(line, /  +/)) { printf ".TP\n.B %s\n%s\n", esc(substr(line, 1, RSTART - 1)), esc(substr(line, RSTART + RLENGTH)) }
		else print esc(line); next }
	/^$/ { if (pre) { print ".fi"; pre = 0 } if (sec != "") print ".PP"; next }
	{ if (sec == "") { print ".SH DESCRIPTION"; sec = "desc" }
	  if ($0 ~ /^ /) { if (!pre) { print ".nf"; pre = 1 } } else if (pre) { print ".fi"; pre = 0 }
	  print esc($0) }
	END { if (pre) print ".fi" }'
}

seealso() { printf '.SH SEE ALSO\n%s\n' "$1"; }

pages=()
cmds=$("$bin" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
{
	"$bin" --help | to_roff spindle "turn raw text into a trained, aligned Llama-2-style model"
	seealso "$(for c in $cmds; do printf '.BR spindle\\-%s (1)\n' "$c"; done)"
} > "$out/spindle.1"
pages+=(spindle.1)
for c in $cmds; do
	title=$("$bin" --help | awk -v c="$c" '$1 == c { $1 = ""; sub(/^ +/, ""); print; exit }')
	help=$("$bin" "$c" --help)
	subs=()
	for w in $(awk '/^  [a-z][a-z-]+ / { print $1 }' <<<"$help" | sort -u); do
		# (the whole help first: `| head -1` would cut the writer off, a failure under pipefail)
		sh=$("$bin" "$c" "$w" --help 2>/dev/null) || sh=
		if [[ $sh == "usage: spindle $c $w "* || $sh == "usage: spindle $c $w"$'\n'* ]]; then subs+=("$w"); fi
	done
	{
		to_roff "spindle-$c" "$title" <<<"$help"
		seealso "$(printf '.BR spindle (1)'; for s in "${subs[@]}"; do printf ',\n.BR spindle\\-%s\\-%s (1)' "$c" "$s"; done; echo)"
	} > "$out/spindle-$c.1"
	pages+=("spindle-$c.1")
	for s in "${subs[@]}"; do
		stitle=$(awk -v s="$s" '$1 == s { $1 = ""; sub(/^ +/, ""); print; exit }' <<<"$help")
		{
			"$bin" "$c" "$s" --help | to_roff "spindle-$c-$s" "${stitle:-spindle $c $s}"
			seealso ".BR spindle\\-$c (1)"
		} > "$out/spindle-$c-$s.1"
		pages+=("spindle-$c-$s.1")
	done
done
printf '%s\n' "${pages[@]}" > "$out/pages.txt"
