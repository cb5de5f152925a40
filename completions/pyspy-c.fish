# fish completion for pyspy-c.  `make install` puts it in
# $(PREFIX)/share/fish/vendor_completions.d (searched when $XDG_DATA_DIRS
# includes $(PREFIX)/share); ~/.config/fish/completions/ works too.
# The option lists below must match `pyspy-c --help` and `pyspy-c COMMAND
# --help` for every command; tests/docs/test_docs.py checks that they do.

# Process ids with their command lines.  Processes whose command name or
# first command-line word contains "python" are offered; when there are
# none, every process is, so that renamed interpreters (uwsgi, an embedding
# application) can still be completed.
function __pyspy_c_pids
    set -l python
    set -l all
    if command -q ps
        # One ps call: no race with processes that exit while we look (fish
        # warns on a failed redirection even under 2>/dev/null).
        for line in (command ps -ww -e -o pid= -o args= 2>/dev/null)
            set -l m (string match -r '^\s*(\d+)\s+(.*)$' -- $line)
            or continue
            set -l pid $m[2]
            set -l desc $m[3]
            set -a all $pid\t$desc
            set -l arg0 (string split -m1 ' ' -- $desc)[1]
            if string match -q -r '[Pp]ython' -- (string replace -r '.*/' '' -- $arg0)
                set -a python $pid\t$desc
            end
        end
    else
        # fish globs have no character classes: filter /proc/* instead.
        for pid in (string replace -rf '^/proc/(\d+)$' '$1' -- /proc/*)
            set -l d /proc/$pid
            test -r $d/cmdline; or continue
            set -l comm
            read -l comm <$d/comm
            set -l argv (string split0 <$d/cmdline)
            set -l desc (string join ' ' -- $argv)
            test -n "$desc"; or set desc "[$comm]"
            set -a all $pid\t$desc
            set -l arg0 (string replace -r '.*/' '' -- "$argv[1]")
            if string match -q -r '[Pp]ython' -- "$comm $arg0"
                set -a python $pid\t$desc
            end
        end
    end
    if set -q python[1]
        printf '%s\n' $python
    else
        printf '%s\n' $all
    end
end

function __pyspy_c_no_command
    set -l words (commandline -opc)
    for w in $words[2..-1]
        switch $w
            case '-*'
            case '*'
                return 1
        end
    end
    return 0
end

function __pyspy_c_command_is
    set -l words (commandline -opc)
    for w in $words[2..-1]
        switch $w
            case '-*'
            case '*'
                test "$w" = "$argv[1]"
                return
        end
    end
    return 1
end

complete -c pyspy-c -f

# pyspy-c [--help | --version | COMMAND]
complete -c pyspy-c -n __pyspy_c_no_command -a record -d 'Sample a Python process and write its profile'
complete -c pyspy-c -n __pyspy_c_no_command -a dump -d 'Print the Python stack of every thread, once'
complete -c pyspy-c -n __pyspy_c_no_command -a top -d 'Show live which functions a Python process spends its time in'
complete -c pyspy-c -n __pyspy_c_no_command -a serve -d 'Profile matching processes continuously and serve their stacks over HTTP'
complete -c pyspy-c -n __pyspy_c_no_command -a query -d 'Write the fleet profile of a time range from a store'
complete -c pyspy-c -n __pyspy_c_no_command -a collect -d 'Poll the fleet agents and keep their stacks in a store'
complete -c pyspy-c -n __pyspy_c_no_command -a web -d 'Serve the fleet flame graphs and timeline from a store to a browser'
complete -c pyspy-c -n __pyspy_c_no_command -a help -d 'Show help for a command'
complete -c pyspy-c -n __pyspy_c_no_command -s h -l help -d 'Show help'
complete -c pyspy-c -n __pyspy_c_no_command -s V -l version -d 'Show the version'

# pyspy-c help COMMAND
complete -c pyspy-c -n '__pyspy_c_command_is help' -a 'record dump top serve query collect web help'

# pyspy-c record --pid PID [options]
set -l rec '__pyspy_c_command_is record'
complete -c pyspy-c -n $rec -s p -l pid -x -a '(__pyspy_c_pids)' -d 'Process to profile'
complete -c pyspy-c -n $rec -s r -l rate -x -d 'Samples per second (default 100)'
complete -c pyspy-c -n $rec -s d -l duration -x -d 'Stop after this many seconds'
complete -c pyspy-c -n $rec -s o -l output -r -F -d 'Write the profile to FILE (default stdout)'
complete -c pyspy-c -n $rec -s f -l format -x -d 'Output format (default folded)' -a 'folded\t"Folded stacks, for flamegraph.pl" speedscope\t"speedscope JSON, a profile per thread" chrometrace\t"Chrome trace events, a timeline per thread" svg\t"Interactive flame graph" pprof\t"Gzipped profile.proto for go tool pprof"'
complete -c pyspy-c -n $rec -l interval -x -d 'Write a folded block every SECONDS while recording'
complete -c pyspy-c -n $rec -s s -l subprocesses -d 'Also profile child processes, present and future'
complete -c pyspy-c -n $rec -s t -l threads -d 'Add a root frame per thread'
complete -c pyspy-c -n $rec -s i -l idle -d 'Keep samples of idle threads'
complete -c pyspy-c -n $rec -s g -l gil -d 'Keep only samples of the thread holding the GIL'
complete -c pyspy-c -n $rec -l no-gc -d 'No <GC> frame on samples taken while the garbage collector runs'
complete -c pyspy-c -n $rec -l interpreter -x -a 'main' -d 'Keep only threads running in interpreter ID'
complete -c pyspy-c -n $rec -l nonblocking -d 'Read without stopping the target'
complete -c pyspy-c -n $rec -s n -l native -d 'Merge C stacks (extensions, libraries) with Python frames'
complete -c pyspy-c -n $rec -l native-all -d 'Like --native, also showing the interpreter C frames'
complete -c pyspy-c -n $rec -l async -d 'Asyncio: running task frames under the task, not the event loop'
complete -c pyspy-c -n $rec -s F -l function -d 'Aggregate by function, no line numbers'
complete -c pyspy-c -n $rec -l full-filenames -d 'Show full file paths'
complete -c pyspy-c -n $rec -s v -l verbose -d 'Say how the interpreter was found, and more detail'
complete -c pyspy-c -n $rec -s q -l quiet -d 'No summary on stderr at the end'
complete -c pyspy-c -n $rec -s h -l help -d 'Show help for record'

# pyspy-c dump --pid PID | --core FILE [options]
set -l dmp '__pyspy_c_command_is dump'
complete -c pyspy-c -n $dmp -s p -l pid -x -a '(__pyspy_c_pids)' -d 'Process to dump'
complete -c pyspy-c -n $dmp -l core -r -F -d 'Dump a core file instead of a process'
complete -c pyspy-c -n $dmp -l executable -r -F -d 'With --core: the program the core was made from'
complete -c pyspy-c -n $dmp -l sysroot -x -a '(__fish_complete_directories)' -d 'With --core: find the files the core maps under DIR'
complete -c pyspy-c -n $dmp -s l -l locals -d 'Show the arguments and local variables of each frame'
complete -c pyspy-c -n $dmp -s j -l json -d 'Write JSON instead of text'
complete -c pyspy-c -n $dmp -s s -l subprocesses -d 'Also dump the child processes'
complete -c pyspy-c -n $dmp -l interpreter -x -a 'main' -d 'Only threads running in interpreter ID'
complete -c pyspy-c -n $dmp -l async -d 'Asyncio: running tasks in the stacks, then every task and who awaits it'
complete -c pyspy-c -n $dmp -l nonblocking -d 'Read without stopping the target'
complete -c pyspy-c -n $dmp -s n -l native -d 'Merge C stacks (extensions, libraries) with Python frames'
complete -c pyspy-c -n $dmp -l native-all -d 'Like --native, also showing the interpreter C frames'
complete -c pyspy-c -n $dmp -l full-filenames -d 'Show full file paths'
complete -c pyspy-c -n $dmp -s v -l verbose -d 'Say how the interpreter was found, and how long the target was stopped'
complete -c pyspy-c -n $dmp -s h -l help -d 'Show help for dump'

# pyspy-c top --pid PID [options]
set -l top '__pyspy_c_command_is top'
complete -c pyspy-c -n $top -s p -l pid -x -a '(__pyspy_c_pids)' -d 'Process to watch'
complete -c pyspy-c -n $top -s r -l rate -x -d 'Samples per second (default 100)'
complete -c pyspy-c -n $top -l delay -x -d 'Refresh the view every SECONDS (default 1)'
complete -c pyspy-c -n $top -s d -l duration -x -d 'Stop after this many seconds'
complete -c pyspy-c -n $top -s i -l idle -d 'Count samples of idle threads too'
complete -c pyspy-c -n $top -s g -l gil -d 'Count only samples of the thread holding the GIL'
complete -c pyspy-c -n $top -l no-gc -d 'No <GC> row for the garbage collector share'
complete -c pyspy-c -n $top -l interpreter -x -a 'main' -d 'Count only threads running in interpreter ID'
complete -c pyspy-c -n $top -l nonblocking -d 'Read without stopping the target'
complete -c pyspy-c -n $top -l full-filenames -d 'Show full file paths'
complete -c pyspy-c -n $top -s h -l help -d 'Show help for top'

# pyspy-c serve [--pid PID]... [--match REGEX] [options]
set -l srv '__pyspy_c_command_is serve'
complete -c pyspy-c -n $srv -s p -l pid -x -a '(__pyspy_c_pids)' -d 'A process to profile (repeat for more)'
complete -c pyspy-c -n $srv -s m -l match -x -d 'Profile every process whose command line matches REGEX'
complete -c pyspy-c -n $srv -s s -l subprocesses -d 'And their child processes'
complete -c pyspy-c -n $srv -s r -l rate -x -d 'Samples per second per process (default 100)'
complete -c pyspy-c -n $srv -s i -l idle -d 'Keep samples of idle threads'
complete -c pyspy-c -n $srv -s g -l gil -d 'Keep only samples of the thread holding the GIL'
complete -c pyspy-c -n $srv -l nonblocking -d 'Read without stopping the targets'
complete -c pyspy-c -n $srv -s n -l native -d 'Merge C stacks with Python frames'
complete -c pyspy-c -n $srv -l native-all -d 'Like --native, also showing the interpreter C frames'
complete -c pyspy-c -n $srv -l max-overhead -x -d 'Lower the rate past this CPU or stop-time share (default 1)'
complete -c pyspy-c -n $srv -l window -x -d 'Seconds per window (default 10)'
complete -c pyspy-c -n $srv -l retention -x -d 'Keep windows this long (default 3600)'
complete -c pyspy-c -n $srv -l listen -x -d 'HTTP address (default 127.0.0.1:16384)'
complete -c pyspy-c -n $srv -l token-file -r -F -d 'Require this bearer token (needed off loopback)'
complete -c pyspy-c -n $srv -l hide-args -d 'Show programs without their arguments'
complete -c pyspy-c -n $srv -s h -l help -d 'Show help for serve'

# pyspy-c query --store STORE [--from TIME] [--until TIME] [options]
set -l qry '__pyspy_c_command_is query'
complete -c pyspy-c -n $qry -l store -r -F -d 'The store: a file (or sqlite:FILE) or postgresql://...'
complete -c pyspy-c -n $qry -l from -x -d 'Start of the range (default -1h): ISO 8601, Unix seconds, -1h, now-15m'
complete -c pyspy-c -n $qry -l until -x -d 'End of the range (default now)'
complete -c pyspy-c -n $qry -l service -x -d 'Only this service'
complete -c pyspy-c -n $qry -l host -x -d 'Only this host'
complete -c pyspy-c -n $qry -l pid -x -d 'Only this process id'
complete -c pyspy-c -n $qry -s f -l format -x -d 'Output format (default folded)' -a 'folded\t"Folded stacks, for flamegraph.pl" svg\t"Interactive flame graph" pprof\t"Gzipped profile.proto for go tool pprof"'
complete -c pyspy-c -n $qry -s o -l output -r -F -d 'Write the profile to FILE (default stdout)'
complete -c pyspy-c -n $qry -l full-filenames -d 'Show full file paths'
complete -c pyspy-c -n $qry -s v -l verbose -d 'Say which tiers answered and the totals'
complete -c pyspy-c -n $qry -s h -l help -d 'Show help for query'

# pyspy-c collect --store STORE --agent HOST:PORT... | --agents FILE [options]
set -l col '__pyspy_c_command_is collect'
complete -c pyspy-c -n $col -l store -r -F -d 'The store: a file (or sqlite:FILE) or postgresql://...'
complete -c pyspy-c -n $col -l agent -x -d 'An agent: HOST:PORT [service=NAME] [host=NAME] [token=FILE]'
complete -c pyspy-c -n $col -l agents -r -F -d 'The agents, one a line; re-read on SIGHUP'
complete -c pyspy-c -n $col -l interval -x -d 'Poll every agent this often (default 10)'
complete -c pyspy-c -n $col -l timeout -x -d 'Give up on an answer after this long (default 5)'
complete -c pyspy-c -n $col -l keep-minutes -x -d 'Keep 1-minute buckets this many days (default 2)'
complete -c pyspy-c -n $col -l keep-10min -x -d 'Keep 10-minute buckets this many days (default 14)'
complete -c pyspy-c -n $col -l keep-hours -x -d 'Keep 1-hour buckets this many days (default 365)'
complete -c pyspy-c -n $col -l once -d 'Poll every agent once, write, and exit'
complete -c pyspy-c -n $col -s v -l verbose -d 'Say what each round wrote'
complete -c pyspy-c -n $col -l web -x -d 'Serve pyspy-c web pages from this process too'
complete -c pyspy-c -n $col -l web-token-file -r -F -d 'The --web pages require this token (needed off loopback)'
complete -c pyspy-c -n $col -l listen -x -d 'Serve the collector /metrics and /healthz here (also on --web)'
complete -c pyspy-c -n $col -l token-file -r -F -d '--listen requires this bearer token (needed off loopback)'
complete -c pyspy-c -n $col -s h -l help -d 'Show help for collect'

# pyspy-c web --store STORE [--listen ADDR:PORT] [--token-file FILE]
set -l web '__pyspy_c_command_is web'
complete -c pyspy-c -n $web -l store -r -F -d 'The store: a file (or sqlite:FILE) or postgresql://...'
complete -c pyspy-c -n $web -l listen -x -d 'HTTP address (default 127.0.0.1:4110)'
complete -c pyspy-c -n $web -l token-file -r -F -d 'Require this token, as a bearer header or a cookie'
complete -c pyspy-c -n $web -s h -l help -d 'Show help for web'
