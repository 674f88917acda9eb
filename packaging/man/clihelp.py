"""Reads the --help text of cutover and cutoverctl (CLI11's layout): its headed blocks, the options
and the commands it lists. The man page generator and the tests that keep the man pages and
docs/ in step with the binaries share it, so they agree on what the help says."""
import os
import re
import subprocess

# A block heading: "Options:", "Exit status:" alone on a line at column 0.
HEADING = re.compile(r"^([A-Z][A-Za-z ]*):$")
# The first word of an entry line ("  --weight FLOAT ...", "  -c,--config FILE ...", "  status  ...").
ENTRY = re.compile(r"^ {2}(\S+)")


def help_text(binary: str, *args: str) -> str:
    """BINARY ARGS --help, with the admin variables unset: --help shows the defaults it would use,
    and the build's environment must not end up in a man page."""
    env = {k: v for k, v in os.environ.items() if k not in ("CUTOVER_ADMIN", "CUTOVER_TOKEN")}
    r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=30, check=True)
    return r.stdout


def blocks(text: str) -> list[tuple[str, list[str]]]:
    """The text as (heading, lines) in order; the lines before the first heading have heading ""."""
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        m = HEADING.match(line)
        if m:
            out.append((m.group(1), []))
        elif out[-1][0] and line and not line.startswith(" "):
            out.append(("", [line]))  # text at column 0 ends a headed block (a footer's paragraph)
        else:
            out[-1][1].append(line)
    return out


def block(text: str, heading: str) -> list[str]:
    return [line for h, lines in blocks(text) if h == heading for line in lines]


def entries(lines: list[str]) -> list[str]:
    """The names an entry block lists: "-c,--config FILE" gives -c and --config."""
    names = []
    for line in lines:
        m = ENTRY.match(line)
        if m:
            names.extend(n for n in m.group(1).split(",") if n)
    return names


def options(text: str) -> list[str]:
    """The flags (--name, -x) of a help text, without CLI11's own -h/--help."""
    return [n for n in entries(block(text, "Options")) if n.startswith("-") and n not in ("-h", "--help")]


def positionals(text: str) -> list[str]:
    return entries(block(text, "Positionals"))


def commands(text: str) -> list[str]:
    return entries(block(text, "Commands"))
