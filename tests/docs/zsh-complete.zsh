#!/usr/bin/env zsh
# Print the completions zsh offers for a command line, one a line, as
# "MATCH" or "MATCH -- DESCRIPTION".
#
#   zsh -f tests/docs/zsh-complete.zsh COMPLETION_DIR 'pyspy-c record --'
#
# An interactive zsh runs in a pseudo-terminal (zsh/zpty) with only
# COMPLETION_DIR added to $fpath; <Tab> is pressed at the end of the line and
# compadd is wrapped so that every match is printed instead of inserted.
# Adapted from the well-known "capture.zsh" technique.

emulate -L zsh
zmodload zsh/zpty || exit 2

(( $# == 2 )) || { print -u2 "usage: $0 COMPLETION_DIR LINE"; exit 2 }
local dir=${1:A} line=$2
local tmp=$(mktemp -d) || exit 2
trap 'rm -rf -- $tmp' EXIT

cat >$tmp/setup.zsh <<'SETUP'
PROMPT= RPROMPT= PS2=
unsetopt zle_bracketed_paste 2>/dev/null
autoload -Uz compinit
compinit -u -d $CAPTURE_TMP/zcompdump
bindkey '^M' undefined
bindkey '^J' undefined
bindkey '^I' complete-word
capture-mark() { print -rn -- $'\0' }
compprefuncs=( capture-mark )
comppostfuncs=( capture-mark exit )
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
zstyle ':completion:*' list-separator ''
compadd() {
  # Calls that only collect matches into arrays are not ours to print.
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return $?
  fi
  local -a __hits __dscr
  local __tmp
  if (( $@[(I)-d] )); then
    __tmp=${@[$[${@[(i)-d]}+1]]}
    if [[ $__tmp == \(* ]]; then
      eval "__dscr=$__tmp"
    else
      __dscr=( "${(@P)__tmp}" )
    fi
  fi
  builtin compadd -A __hits -D __dscr "$@"
  (( $#__hits )) || return 1
  # Prefixes and suffixes the match would be inserted with (-P -p -S -s).
  local -A apre hpre hsuf asuf
  zparseopts -E P:=apre p:=hpre S:=asuf s:=hsuf
  local i d
  for i in {1..$#__hits}; do
    d=
    (( $#__dscr >= i )) && d=" -- ${${__dscr[i]}##$__hits[i] #}"
    print -r -- "$IPREFIX$apre$hpre$__hits[i]$hsuf$asuf$d"
  done
}
print -r -- CAPTURE-READY
SETUP

export CAPTURE_TMP=$tmp
zpty capture "ZDOTDIR=$tmp zsh -f -i"
zpty -w capture "fpath=(${(q)dir} \$fpath); source ${(q)tmp}/setup.zsh"

local out
# Wait for the set-up to finish (the echo of the command comes first).
integer n=0
while zpty -r capture out; do
  [[ $out == CAPTURE-READY* ]] && break
  (( ++n > 1000 )) && { print -u2 'zsh did not start'; exit 2 }
done

zpty -w -n capture "$line"$'\t'
# Skip up to the first mark, then print up to the second.
zpty -r -m capture out $'*\0' || exit 2
zpty -r -m capture out $'*\0' || exit 2
out=${out%$'\0'}
out=${out//$'\r'/}
print -rn -- "$out"
zpty -d capture
