# bash completion for pyspy-c                              -*- shell-script -*-
#
# `make install` puts it in $(PREFIX)/share/bash-completion/completions/pyspy-c,
# where bash-completion loads it on first use; or source it from ~/.bashrc.
# The option lists below must match `pyspy-c --help` and `pyspy-c COMMAND
# --help` for every command; tests/docs/test_docs.py checks that they do.

# Print the ids of processes that look like Python: the command name or the
# first word of the command line contains "python".  If none of them starts
# with $1, print every process id instead, so that renamed interpreters
# (uwsgi, an embedding application) can still be completed.
_pyspy_c_pids()
{
    local d pid comm arg0 found=
    local -a py=() all=()
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [[ $pid == "$1"* ]] || continue
        all+=("$pid")
        comm='' arg0=''
        { IFS= read -r comm <"$d/comm"; } 2>/dev/null
        { IFS= read -r -d '' arg0 <"$d/cmdline"; } 2>/dev/null
        case "$comm ${arg0##*/}" in
            *[Pp]ython*) py+=("$pid") found=1 ;;
        esac
    done
    if [[ -n $found ]]; then
        printf '%s\n' "${py[@]}"
    elif ((${#all[@]})); then
        printf '%s\n' "${all[@]}"
    fi
}

_pyspy_c()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion -s || return
    else
        # Without bash-completion: no --opt=value splitting.
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi

    local commands="record dump top serve query collect web help"
    local global_opts="-h --help -V --version"
    local record_opts="-p --pid -r --rate -d --duration -o --output
        -f --format --interval -s --subprocesses -t --threads -i --idle -g --gil
        --no-gc --interpreter --nonblocking -n --native --native-all --async
        -F --function --full-filenames -v --verbose -q --quiet -h --help"
    local dump_opts="-p --pid --core --executable --sysroot -l --locals -j --json --nonblocking
        -s --subprocesses --interpreter --async -n --native --native-all --full-filenames -v --verbose -h --help"
    local top_opts="-p --pid -r --rate --delay -d --duration -i --idle -g --gil
        --no-gc --interpreter --nonblocking --full-filenames -h --help"
    local serve_opts="-p --pid -m --match -s --subprocesses -r --rate -i --idle -g --gil
        --nonblocking -n --native --native-all --max-overhead --window --retention --listen
        --token-file --hide-args -h --help"
    local query_opts="--store --from --until --service --host --pid -f --format -o --output
        --full-filenames -v --verbose -h --help"
    local collect_opts="--store --agent --agents --interval --timeout --keep-minutes
        --keep-10min --keep-hours --once -v --verbose --web --web-token-file --listen --token-file
        -h --help"
    local web_opts="--store --listen --token-file -h --help"
    local formats="folded speedscope chrometrace svg pprof"

    # The first word that is not an option is the command.
    local i j cmd=
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -*) ;;
            *) cmd=${words[i]}; break ;;
        esac
    done

    case $cmd in
        "")
            if [[ $cur == -* ]]; then
                mapfile -t COMPREPLY < <(compgen -W "$global_opts" -- "$cur")
            else
                mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
            fi
            ;;
        help)
            # help takes one command name.
            if ((cword == i + 1)); then
                mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
            fi
            ;;
        record | dump | top | serve | query | collect | web)
            # record -- PROGRAM ARGS: complete the program's words as commands.
            for ((j = i + 1; j < cword; j++)); do
                if [[ ${words[j]} == -- ]]; then
                    if ((cword == j + 1)); then
                        mapfile -t COMPREPLY < <(compgen -c -- "$cur")
                    else
                        compopt -o default 2>/dev/null
                        COMPREPLY=()
                    fi
                    return
                fi
            done
            case $prev in
                -p | --pid)
                    mapfile -t COMPREPLY < <(_pyspy_c_pids "$cur")
                    return
                    ;;
                -o | --output | --store | --agents | --token-file | --web-token-file | --core | --executable)
                    if declare -F _filedir >/dev/null 2>&1; then
                        _filedir
                    else
                        compopt -o filenames 2>/dev/null
                        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                    fi
                    return
                    ;;
                --sysroot)
                    if declare -F _filedir >/dev/null 2>&1; then
                        _filedir -d
                    else
                        compopt -o filenames 2>/dev/null
                        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
                    fi
                    return
                    ;;
                -f | --format)
                    # query has no per-thread timelines: no chrometrace, no speedscope.
                    [[ $cmd == query ]] && formats="folded svg pprof"
                    mapfile -t COMPREPLY < <(compgen -W "$formats" -- "$cur")
                    return
                    ;;
                --from | --until | --service | --host | --agent | --timeout | --keep-minutes | --keep-10min | --keep-hours)
                    # A time, a name, an address, a number: nothing to offer.
                    return
                    ;;
                -r | --rate | -d | --duration | --interval | --delay | --window | --retention | --max-overhead)
                    # A number: nothing to offer.
                    return
                    ;;
                -m | --match | --listen | --web)
                    # A pattern or an address: nothing to offer.
                    return
                    ;;
                --interpreter)
                    mapfile -t COMPREPLY < <(compgen -W "main" -- "$cur")
                    return
                    ;;
            esac
            if [[ $cur == -* ]]; then
                local opts=$record_opts
                [[ $cmd == dump ]] && opts=$dump_opts
                [[ $cmd == top ]] && opts=$top_opts
                [[ $cmd == serve ]] && opts=$serve_opts
                [[ $cmd == query ]] && opts=$query_opts
                [[ $cmd == collect ]] && opts=$collect_opts
                [[ $cmd == web ]] && opts=$web_opts
                mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
            fi
            ;;
    esac
} &&
    complete -F _pyspy_c pyspy-c

# ex: filetype=sh
