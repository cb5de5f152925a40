"""The documentation agrees with the program.

Every option that `pyspy-c --help` and `pyspy-c COMMAND --help` print (for
each documented command, COMMANDS) must be documented in the man page's
OPTIONS section and offered by each shell completion, and nothing else may
be, command by command: the man page's "Options of COMMAND" subsection,
README.md's option table of that command, the contract's help lines under
`pyspy-c COMMAND`, and what each completion offers after `pyspy-c COMMAND -`.
The man page, README.md and doc/CONTRACT.md must list the same exit codes.  The contract's own help
block is checked the same way, so that a change of the contract shows up
here even before the binary follows it.

Run with:  /usr/bin/python3 -m pytest tests/docs
The binary is $PYSPY_C, default <repo>/pyspy-c (built by `make`).
The shells (bash, zsh, fish) and groff/mandoc are used when installed; a
test that needs a missing one is skipped by name.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MAN = REPO / "man" / "pyspy-c.1"
README = REPO / "README.md"
CONTRACT = REPO / "doc" / "CONTRACT.md"
COMPLETIONS = REPO / "completions"
BASH_COMPLETION = COMPLETIONS / "pyspy-c.bash"
ZSH_COMPLETION = COMPLETIONS / "_pyspy-c"
FISH_COMPLETION = COMPLETIONS / "pyspy-c.fish"
BASH_COMPLETION_LIB = Path("/usr/share/bash-completion/bash_completion")

# The commands whose options are documented (man page, README, contract,
# completions), and the README.md section holding each one's option table.
COMMANDS = ["record", "dump", "top", "serve", "query", "collect", "web"]
README_SECTIONS = {"record": "Usage", "dump": "Dump: what is it doing right now?",
                   "top": "Live view: top", "serve": "Continuous profiling: serve",
                   "query": "The fleet's history: query",
                   "collect": "The collector: collect", "web": "In a browser: web"}

# An option token: -x or --long-name, not preceded by a word character or a
# dash (so "pyspy-c" and "non-blocking" contain none).
OPTION_RE = re.compile(r"(?<![\w-])(--?[A-Za-z0-9][A-Za-z0-9-]*)")


def pyspy_c():
    return os.environ.get("PYSPY_C") or str(REPO / "pyspy-c")


# ---------------------------------------------------------------------------
# Parsers


def help_options(text):
    """Options named in a help text, as {option: takes_argument}.

    Two kinds of lines count:
    - option lines, indented, starting with a dash: the option column is the
      part before the first gap of two or more spaces, e.g.
      "  -p, --pid PID            process to profile" or
      "      --nonblocking        read without stopping the target";
    - usage lines, which mention "pyspy-c" (e.g. "pyspy-c --version | -V").
    """
    found = {}
    for line in text.splitlines():
        if re.match(r"^\s+-", line):
            column = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
            names = OPTION_RE.findall(column)
            rest = OPTION_RE.sub("", column).replace(",", " ")
            rest = re.sub(r"=", " ", rest).split()
            takes_arg = bool(rest)
            for name in names:
                found[name] = found.get(name, False) or takes_arg
        elif re.search(r"(?<![\w/-])pyspy-c\b", line):
            for name in OPTION_RE.findall(line):
                found.setdefault(name, False)
    return found


def contract_command_block(command):
    """The lines of the contract's help block from `pyspy-c COMMAND` to the next
    `pyspy-c ...` line: that command's options."""
    out, inside = [], False
    for line in contract_help_block().splitlines():
        if line.startswith("pyspy-c "):
            inside = line.split()[1] == command
        if inside:
            out.append(line)
    assert out, f"doc/CONTRACT.md's help block has no 'pyspy-c {command}' line"
    return "\n".join(out)


def contract_help_block():
    """The fenced block under '## Command line' in doc/CONTRACT.md."""
    text = CONTRACT.read_text(encoding="utf-8")
    section = re.search(r"^## Command line\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, "doc/CONTRACT.md has no '## Command line' section"
    block = re.search(r"^```[^\n]*\n(.*?)^```", section.group(1), re.M | re.S)
    assert block, "the '## Command line' section has no fenced block"
    return block.group(1)


def deroff(line):
    """Plain text of one roff line: macro name, font escapes, quotes gone."""
    line = re.sub(r"^\.\w+\s*", "", line)
    line = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", line)
    line = line.replace("\\-", "-").replace("\\(dq", '"').replace("\\ ", " ")
    line = re.sub(r"\\\(..", "", line)
    line = line.replace("\\&", "").replace("\\e", "\\")
    return line.replace('"', "")


def man_sections():
    """{section title: [lines]} of the man page, comments dropped."""
    sections, current = {}, None
    for line in MAN.read_text(encoding="utf-8").splitlines():
        if line.startswith(('.\\"', "'\\\"")):
            continue
        m = re.match(r'^\.SH\s+"?([^"]*)"?\s*$', line)
        if m:
            current = m.group(1).strip().upper()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return sections


def man_tags(section, subsection=None):
    """The tag line (the line after .TP) of every item in a man section (or in
    one .SS subsection of it)."""
    lines = man_sections().get(section)
    assert lines is not None, f"man page has no {section} section"
    if subsection is not None:
        sub, current = [], None
        for line in lines:
            m = re.match(r'^\.SS\s+"?([^"]*)"?\s*$', line)
            if m:
                current = m.group(1).strip()
            elif current == subsection:
                sub.append(line)
        assert sub, f"man page has no '{subsection}' subsection in {section}"
        lines = sub
    tags = []
    for i, line in enumerate(lines):
        if re.match(r"^\.TP\b", line) and i + 1 < len(lines):
            tags.append(deroff(lines[i + 1]))
    return tags


def man_options(command=None):
    """Options of the man page's OPTIONS section (or its "Options of COMMAND"
    subsection), as {option: takes_arg}."""
    found = {}
    if command is None:
        tags = man_tags("OPTIONS")
    else:  # "-h, --help" of every command is under General options
        tags = man_tags("OPTIONS", "General options") + man_tags("OPTIONS", f"Options of {command}")
    for tag in tags:
        names = OPTION_RE.findall(tag)
        rest = OPTION_RE.sub("", tag).replace(",", " ").replace("=", " ").split()
        for name in names:
            found[name] = found.get(name, False) or bool(rest)
    return found


def man_exit_codes():
    return {int(t.strip()) for t in man_tags("EXIT STATUS") if t.strip().isdigit()}


def markdown_exit_codes(path):
    """Codes in the first table after a heading that mentions exit codes."""
    text = path.read_text(encoding="utf-8")
    section = re.search(
        r"^#+ [^\n]*exit (?:codes?|status)[^\n]*\n(.*?)(?=^#+ |\Z)",
        text, re.M | re.S | re.I)
    assert section, f"{path.name} has no heading about exit codes"
    codes = {int(m.group(1))
             for m in re.finditer(r"^\|\s*`?(\d+)`?\s*\|", section.group(1), re.M)}
    assert codes, f"{path.name}: no exit code table under {section.group(0)[:40]!r}"
    return codes


def readme_options(command=None):
    """Options of the option tables in README.md's sections of the commands
    (README_SECTIONS; only that of COMMAND if given): the first cell of each
    row, e.g. `-p, --pid PID`."""
    if command is None:
        found = {}
        for c in COMMANDS:
            for name, arg in readme_options(c).items():
                found[name] = found.get(name, False) or arg
        return found
    title = README_SECTIONS[command]
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## " + re.escape(title) + r"\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, f"README.md has no '## {title}' section"
    found = {}
    for m in re.finditer(r"^\|\s*`([^`|]*)`\s*\|", section.group(1), re.M):
        cell = m.group(1)
        names = OPTION_RE.findall(cell)
        rest = OPTION_RE.sub("", cell).replace(",", " ").replace("=", " ").split()
        for name in names:
            found[name] = found.get(name, False) or bool(rest)
    return found


def bash_static_options(command=None):
    """Options in the *_opts word lists (COMMAND_opts only, if given) of the bash
    completion, and which of them are handled as taking an argument (case
    branches on $prev)."""
    text = BASH_COMPLETION.read_text(encoding="utf-8")
    found = {}
    lists = r"\b\w+_opts" if command is None else r"\b" + command + "_opts"
    for m in re.finditer(lists + r'="([^"]*)"', text, re.S):
        for name in OPTION_RE.findall(m.group(1)):
            found.setdefault(name, False)
    prev = re.search(r"case \$prev in(.*?)\besac\b", text, re.S)
    if prev:
        for pattern in re.findall(r"^\s*([^\n()]*)\)", prev.group(1), re.M):
            for name in OPTION_RE.findall(pattern):
                if command is None or name in found:
                    found[name] = True
    return found


def zsh_static_options(command=None):
    """Options defined by the _arguments specs of the zsh completion (those of
    the function _pyspy-c_COMMAND only, if given)."""
    text = ZSH_COMPLETION.read_text(encoding="utf-8")
    if command is not None:
        body = re.search(r"^_pyspy-c_" + command + r"\(\) \{\n(.*?)^\}", text, re.M | re.S)
        assert body, f"the zsh completion has no function _pyspy-c_{command}"
        text = body.group(1)
    found = {}

    def add(item):
        m = re.fullmatch(r"(--?[A-Za-z0-9][A-Za-z0-9-]*?)([+=]?)-?", item)
        assert m, f"cannot read zsh option spec {item!r}"
        found[m.group(1)] = found.get(m.group(1), False) or bool(m.group(2))

    # '(-p --pid)'{-p+,--pid=}'[...]...'
    for m in re.finditer(r"\{(-[^{}']*)\}'\[", text):
        for item in m.group(1).split(","):
            add(item)
    # '(--x)--nonblocking[...]' or '--nonblocking[...]' or '*--agent=[...]' (repeatable)
    for m in re.finditer(r"'(?:\([^)]*\))?\*?(--?[A-Za-z0-9][A-Za-z0-9-]*[+=]?-?)\[", text):
        add(m.group(1))
    return found


def fish_static_options(command=None):
    """Options of the `complete -c pyspy-c` lines of the fish completion (those
    conditioned on `__pyspy_c_command_is COMMAND` only, if given)."""
    found = {}
    conditions = {}  # set -l var '__pyspy_c_command_is CMD'
    for line in FISH_COMPLETION.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        m = re.match(r"set -l (\w+) '__pyspy_c_command_is (\w+)'", line)
        if m:
            conditions[m.group(1)] = m.group(2)
        if not line.startswith("complete "):
            continue
        words = shlex.split(line, comments=True)
        if command is not None:
            cond = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-n", "--condition")]
            if not any(c.startswith("$") and conditions.get(c[1:]) == command or
                       c == f"__pyspy_c_command_is {command}" for c in cond):
                continue
        names, takes_arg = [], False
        for i, w in enumerate(words):
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if w in ("-s", "--short-option"):
                names.append("-" + nxt)
            elif w in ("-l", "--long-option"):
                names.append("--" + nxt)
            elif w in ("-o", "--old-option"):
                names.append("-" + nxt)
            elif w in ("-x", "--exclusive", "-r", "--require-parameter"):
                takes_arg = True
        for name in names:
            found[name] = found.get(name, False) or takes_arg
    return found


# ---------------------------------------------------------------------------
# Running the binary and the shells


def run_help(*args):
    exe = pyspy_c()
    if not os.access(exe, os.X_OK):
        pytest.fail(f"pyspy-c binary not found at {exe}: run `make`, or set PYSPY_C")
    proc = subprocess.run([exe, *args], capture_output=True, text=True,
                          encoding="utf-8", errors="replace", timeout=30)
    assert proc.returncode == 0, (
        f"`pyspy-c {' '.join(args)}` exited {proc.returncode}; stderr: {proc.stderr!r}")
    assert proc.stdout.strip(), f"`pyspy-c {' '.join(args)}` printed nothing on stdout"
    return proc.stdout


@pytest.fixture(scope="module")
def binary_help():
    """{'global': options of --help, COMMAND: options of COMMAND --help}."""
    out = {"global": help_options(run_help("--help"))}
    for command in COMMANDS:
        out[command] = help_options(run_help(command, "--help"))
        assert out[command], f"no options found in `pyspy-c {command} --help`"
    return out


@pytest.fixture(scope="module")
def all_options(binary_help):
    merged = {}
    for options in binary_help.values():
        for name, arg in options.items():
            merged[name] = merged.get(name, False) or arg
    return merged


def bash_complete(line, with_lib):
    """Completions bash offers for LINE (cursor at its end)."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    if with_lib and not BASH_COMPLETION_LIB.exists():
        pytest.skip(f"bash-completion is not installed ({BASH_COMPLETION_LIB})")
    script = r'''
        if [[ $1 == 1 ]]; then source "$2" || exit 3; fi
        source "$3" || exit 3
        line=$4
        COMP_LINE=$line
        COMP_POINT=${#line}
        read -ra COMP_WORDS <<<"$line"
        [[ $line == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        spec=$(complete -p pyspy-c) || exit 4
        fn=${spec#*-F }; fn=${fn%% *}
        COMPREPLY=()
        "$fn" pyspy-c "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    '''
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script, "bash",
         "1" if with_lib else "0", str(BASH_COMPLETION_LIB), str(BASH_COMPLETION), line],
        capture_output=True, text=True, encoding="utf-8", errors="replace",
        timeout=60)
    assert proc.returncode == 0 and not proc.stderr, (
        f"bash completion of {line!r} failed ({proc.returncode}): {proc.stderr}")
    return [w for w in proc.stdout.splitlines() if w]


def zsh_complete(line):
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    proc = subprocess.run(
        ["zsh", "-f", str(HERE / "zsh-complete.zsh"), str(COMPLETIONS), line],
        capture_output=True, text=True, encoding="utf-8", errors="replace",
        timeout=60)
    assert proc.returncode == 0, (
        f"zsh completion of {line!r} failed ({proc.returncode}): {proc.stderr}")
    return [l.split(" -- ", 1)[0] for l in proc.stdout.splitlines() if l.strip()]


def fish_complete(line):
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed")
    proc = subprocess.run(
        ["fish", "--no-config", "-c",
         "source $argv[1]; or exit 3; complete --do-complete=$argv[2]",
         str(FISH_COMPLETION), line],
        capture_output=True, text=True, encoding="utf-8", errors="replace",
        timeout=60)
    assert proc.returncode == 0 and not proc.stderr, (
        f"fish completion of {line!r} failed ({proc.returncode}): {proc.stderr}")
    return [l.split("\t", 1)[0] for l in proc.stdout.splitlines() if l]


SHELLS = {
    "bash": lambda line: bash_complete(line, with_lib=False),
    "bash+bash-completion": lambda line: bash_complete(line, with_lib=True),
    "zsh": zsh_complete,
    "fish": fish_complete,
}


def option_words(words):
    return {w for w in words if OPTION_RE.fullmatch(w)}


# ---------------------------------------------------------------------------
# Comparison


def assert_same(expected, actual, expected_name, actual_name):
    missing = [str(x) for x in sorted(set(expected) - set(actual))]
    extra = [str(x) for x in sorted(set(actual) - set(expected))]
    msg = []
    if missing:
        msg.append(f"in {expected_name} but not in {actual_name}: {', '.join(missing)}")
    if extra:
        msg.append(f"in {actual_name} but not in {expected_name}: {', '.join(extra)}")
    assert not msg, "; ".join(msg)


def assert_same_arguments(expected, actual, expected_name, actual_name):
    """Options that take an argument in one take one in the other."""
    differ = sorted(n for n in set(expected) & set(actual)
                    if bool(expected[n]) != bool(actual[n]))
    assert not differ, (
        f"these options take an argument in {expected_name} but not in "
        f"{actual_name}, or the reverse: "
        + ", ".join(f"{n} ({'argument' if expected[n] else 'flag'} in {expected_name})"
                    for n in differ))


DOC_SOURCES = {
    "man page OPTIONS": man_options,
    "README.md option table": readme_options,
    "completions/pyspy-c.bash": bash_static_options,
    "completions/_pyspy-c": zsh_static_options,
    "completions/pyspy-c.fish": fish_static_options,
}


# Per command: the same sources, reading only what belongs to the command.
COMMAND_SOURCES = {
    "man page OPTIONS": man_options,
    "README.md option table": readme_options,
    "doc/CONTRACT.md help block": lambda c: help_options(contract_command_block(c)),
    "completions/pyspy-c.bash": bash_static_options,
    "completions/_pyspy-c": zsh_static_options,
    "completions/pyspy-c.fish": fish_static_options,
}


def test_every_command_is_documented():
    """COMMANDS (what this file checks) is exactly what `pyspy-c --help` lists."""
    text = run_help("--help")
    block = re.search(r"^commands:\n(.*?)(?:\n\n|\Z)", text, re.M | re.S)
    assert block, "no 'commands:' list in `pyspy-c --help`"
    listed = [line.split()[0] for line in block.group(1).splitlines() if line.strip()]
    assert sorted(listed) == sorted(COMMANDS), f"pyspy-c --help lists {listed}"


def test_parser_reads_contract_help_block():
    opts = help_options(contract_help_block())
    for name, arg in [("-p", True), ("--pid", True), ("--nonblocking", False),
                      ("--full-filenames", False), ("-V", False), ("--version", False),
                      ("-o", True), ("--output", True), ("-h", False)]:
        assert name in opts, f"{name} not read from the contract's help block"
        assert opts[name] == arg, f"{name}: argument {opts[name]}, expected {arg}"


@pytest.mark.parametrize("source", DOC_SOURCES)
def test_docs_match_contract(source):
    contract = help_options(contract_help_block())
    documented = DOC_SOURCES[source]()
    assert_same(contract, documented, "doc/CONTRACT.md", source)
    assert_same_arguments(contract, documented, "doc/CONTRACT.md", source)


@pytest.mark.parametrize("source", DOC_SOURCES)
def test_docs_match_binary_help(source, all_options):
    documented = DOC_SOURCES[source]()
    assert_same(all_options, documented, "pyspy-c --help + COMMAND --help", source)
    assert_same_arguments(all_options, documented, "pyspy-c --help + COMMAND --help", source)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("source", COMMAND_SOURCES)
def test_command_docs_match_binary_help(source, command, binary_help):
    """Each command's options, and only those, documented for that command."""
    documented = COMMAND_SOURCES[source](command)
    expected = binary_help[command]
    if source == "man page OPTIONS" or (source == "README.md option table" and command == "record"):
        # Both also hold the general options (--version, --help) there.
        expected = dict(expected, **binary_help["global"])
    assert_same(expected, documented, f"pyspy-c {command} --help", f"{source} for {command}")
    assert_same_arguments(expected, documented, f"pyspy-c {command} --help",
                          f"{source} for {command}")


def test_binary_help_matches_contract(all_options):
    contract = help_options(contract_help_block())
    assert_same(contract, all_options, "doc/CONTRACT.md", "pyspy-c --help + COMMAND --help")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("shell", SHELLS)
def test_shell_offers_command_options(shell, command, binary_help):
    offered = option_words(SHELLS[shell](f"pyspy-c {command} -"))
    assert_same(binary_help[command], offered, f"pyspy-c {command} --help",
                f"{shell} completion of 'pyspy-c {command} -'")


@pytest.mark.parametrize("shell", SHELLS)
def test_shell_offers_every_option(shell, all_options):
    complete = SHELLS[shell]
    offered = option_words(complete("pyspy-c -"))
    for command in COMMANDS:
        offered |= option_words(complete(f"pyspy-c {command} -"))
    assert_same(all_options, offered, "pyspy-c --help + COMMAND --help",
                f"{shell} completion")


@pytest.mark.parametrize("shell", SHELLS)
def test_shell_offers_commands(shell):
    offered = set(SHELLS[shell]("pyspy-c "))
    assert set(COMMANDS) | {"help"} <= offered, f"{shell} offers {sorted(offered)}"
    offered = set(SHELLS[shell]("pyspy-c help "))
    assert set(COMMANDS) <= offered, f"{shell} offers {sorted(offered)} after 'help'"


@pytest.fixture(scope="module")
def python_process():
    """A sleeping Python process whose pid the completions should offer."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    # Wait until it has exec'd (its comm is no longer ours to guess).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{proc.pid}/cmdline").read_bytes().startswith(
                    sys.executable.encode()):
                break
        except OSError:
            pass
        time.sleep(0.01)
    yield proc.pid
    proc.kill()
    proc.wait()


# query's --pid names a process of the fleet, on any host: not a local one.
@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in ("query", "collect", "web")])
@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("option", ["--pid", "-p"])
def test_shell_completes_pid(shell, option, command, python_process):
    offered = SHELLS[shell](f"pyspy-c {command} {option} {str(python_process)[:-1]}")
    assert str(python_process) in offered, (
        f"{shell} did not offer the python process {python_process}: {offered}")


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("option", ["--output", "-o"])
def test_shell_completes_output_file(shell, option):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "profile.folded").write_text("")
        offered = SHELLS[shell](f"pyspy-c record -p 1 {option} {tmp}/prof")
    assert f"{tmp}/profile.folded" in offered, f"{shell} offered {offered}"


@pytest.mark.parametrize("other", ["README.md", "doc/CONTRACT.md"])
def test_exit_codes_documented(other):
    assert_same(markdown_exit_codes(REPO / other), man_exit_codes(),
                f"{other} exit code table", "man page EXIT STATUS")


def test_man_page_sections():
    want = ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "OUTPUT FORMAT",
            "IDLE THREADS", "PERMISSIONS", "EFFECTS ON THE TARGET", "EXIT STATUS",
            "ENVIRONMENT", "EXAMPLES", "SEE ALSO"]
    have = list(man_sections())
    assert [s for s in have if s in want] == want, f"man page sections: {have}"


@pytest.mark.parametrize("checker", ["groff", "mandoc"])
def test_man_page_renders_cleanly(checker):
    if shutil.which(checker) is None:
        pytest.skip(f"{checker} is not installed")
    if checker == "groff":
        cmd = ["groff", "-man", "-Tutf8", "-ww", "-z", str(MAN)]
    else:
        cmd = ["mandoc", "-Tlint", "-W", "warning", str(MAN)]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          encoding="utf-8", errors="replace", timeout=60)
    assert proc.returncode == 0 and not proc.stderr.strip() and not (
        checker == "mandoc" and proc.stdout.strip()), (
        f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")


def markdown_block_errors(text):
    """Places where a Markdown block runs into the next one: a table or a code fence
    followed by text without an empty line, a heading not preceded by one."""
    errors, fence = [], False
    lines = text.splitlines()
    for i, line in enumerate(lines):
        prev = lines[i - 1] if i else ""
        if line.startswith("```"):
            fence = not fence
            continue
        if fence:
            continue
        if line.startswith("#") and i and prev.strip():
            errors.append("line %d: heading %r right after %r" % (i + 1, line, prev))
        if prev.startswith("|") and line.strip() and not line.startswith("|"):
            errors.append("line %d: %r runs on from the table above" % (i + 1, line))
    return errors


def test_markdown_block_errors_detector():
    assert markdown_block_errors("| a |\n|---|\n## Next\n")
    assert markdown_block_errors("text\n## Next\n")
    assert not markdown_block_errors("| a |\n|---|\n\n## Next\n\n```\n# a comment\n```\n")


@pytest.mark.parametrize("doc", ["README.md", "doc/CONTRACT.md", "tests/e2e/README.md",
                                 "bench/README.md"])
def test_markdown_blocks_are_separated(doc):
    errors = markdown_block_errors((REPO / doc).read_text())
    assert not errors, "%s:\n%s" % (doc, "\n".join(errors))
