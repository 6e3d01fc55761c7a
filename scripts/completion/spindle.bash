# bash completion for spindle: commands, subcommands and options, read from the installed program's
# own --help (so they are never out of date). Installed by `make install` as
# $(PREFIX)/share/bash-completion/completions/spindle.
_spindle()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prog=${COMP_WORDS[0]} words=() w help
	# the command words typed so far (up to two: `spindle train sft`)
	for ((w = 1; w < COMP_CWORD && ${#words[@]} < 2; w++)); do
		[[ ${COMP_WORDS[w]} == -* ]] && break
		words+=("${COMP_WORDS[w]}")
	done
	help=$("$prog" "${words[@]}" --help 2>/dev/null) || help=
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(grep -oE '(^|[ ,])--?[A-Za-z][A-Za-z0-9-]*' <<<"$help" | tr -d ' ,' | sort -u)" -- "$cur"))
		return
	fi
	if ((${#words[@]} < 2)) && grep -q 'Commands:' <<<"$help"; then
		local subs
		subs=$(awk '/Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }' <<<"$help")
		if [ -n "$subs" ] && [[ ${COMP_WORDS[COMP_CWORD - 1]} != -* ]]; then
			COMPREPLY=($(compgen -W "$subs" -- "$cur"))
			return
		fi
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _spindle spindle
