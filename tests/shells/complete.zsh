# zsh -f complete.zsh DIR LINE: the words zsh's own completion system offers after typing LINE
# and TAB in an interactive zsh with DIR (holding `_carbonio-mesh`) on its fpath, one a line.
#
# Completion only runs inside the line editor, which needs a terminal: the interactive zsh runs
# in a pseudo-terminal (zpty). Its `compadd` is wrapped to append every word offered to a file,
# and TAB is bound to a widget that completes and then marks the file as finished.
zmodload zsh/zpty
capture=$(mktemp)
zpty shell zsh -f -i
zpty -w shell "PS1=''; fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D"
# compadd with -O, -A or -D only computes matches for the completion system itself: pass it on.
zpty -w shell "compadd() { if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd \"\$@\"; return; fi; local -a offered; builtin compadd -A offered \"\$@\"; print -rl -- \$offered >> ${(q)capture}; }"
zpty -w shell "complete-and-mark() { zle complete-word; print -r -- '<<done>>' >> ${(q)capture}; }; zle -N complete-and-mark; bindkey '^I' complete-and-mark"
zpty -w -n shell "$2"$'\t'
for i in {1..100}; do grep -q '<<done>>' $capture && break; sleep 0.1; done
zpty -d shell
grep -q '<<done>>' $capture || { print -u2 "zsh did not finish completing within 10 s"; rm -f $capture; exit 1; }
grep -v '<<done>>' $capture
rm -f $capture
