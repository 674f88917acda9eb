#!/usr/bin/env python3
"""Makes the man page of cutover or cutoverctl with Debian's help2man, from the binary's own
--help, so the page says what the binary says. help2man reads the text through this script,
which reshapes CLI11's layout into the paragraphs help2man turns into sections: "Commands:",
"Signals:" and "Exit status:" become sections of their own, each command's --help is added under
"Commands" (help2man reads only the top-level help), and example lines are set as commands.

  manpage.py BINARY --output build/cutoverctl.1 --name "..." [--include SEE_ALSO.h2m] [--help2man PATH]
"""
import argparse
import os
import re
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clihelp  # noqa: E402

# CLI11's blocks that become sections of their own (help2man's "*Name*" marker).
OWN_SECTIONS = {"Commands", "Signals", "Exit status"}


def examples(lines: list[str]) -> list[str]:
    # help2man sets "  $ text" lines in a constant-width font, one a line.
    return [f"  $ {line.strip()}" if line.strip() else line for line in lines]


def command_details(binary: str, name: str) -> list[str]:
    """A command's --help as a subsection: "SYNOPSIS:" (help2man makes it a .SS), its
    description, its arguments and options, its examples."""
    text = clihelp.help_text(binary, name)
    head = [line for line in clihelp.block(text, "") if line.strip()]
    usage = next(line for line in head if line.startswith("Usage: "))
    description = [line for line in head if not line.startswith("Usage: ")]
    out = [usage.removeprefix("Usage: ") + ":"]
    out += [f"  {line}" for line in description] + [""]
    keep = True  # an entry's continuation lines go with it: CLI11's own -h,--help is left out
    for line in clihelp.block(text, "Positionals") + clihelp.block(text, "Options"):
        names = clihelp.entries([line])
        if names:
            keep = names[0] not in ("-h", "--help")
        if line.strip() and keep:
            out.append(line)
    out.append("")
    out += examples(clihelp.block(text, "Examples")) + [""]
    return out


def for_help2man(binary: str) -> str:
    text = clihelp.help_text(binary)
    parts = clihelp.blocks(text)
    head = parts[0][1] + [""]
    free: list[str] = []  # a footer's paragraphs: into DESCRIPTION, after the program's summary
    rest: list[str] = []
    for heading, lines in parts[1:]:
        if not heading:
            free += lines + [""]
        elif heading in OWN_SECTIONS:
            rest += [f"*{heading}*"] + lines + [""]
            if heading == "Commands":
                for name in clihelp.commands(text):
                    rest += command_details(binary, name)
        elif heading == "Examples":
            rest += ["Examples:"] + examples(lines) + [""]
        elif heading == "Positionals":
            rest += ["Arguments:"] + lines + [""]
        else:  # Options, Environment: help2man's own sections
            rest += [f"{heading}:"] + lines + [""]
    return "\n".join(head + free + rest).rstrip() + "\n"


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--print":  # as help2man runs it: --print BINARY --help|--version
        binary, option = sys.argv[2], sys.argv[3]
        if option == "--version":
            sys.stdout.write(subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout)
        else:
            sys.stdout.write(for_help2man(binary))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--output", required=True)
    ap.add_argument("--name", required=True, help="the NAME line's description")
    ap.add_argument("--include", help="a help2man include file (SEE ALSO and the like)")
    ap.add_argument("--help2man", default="help2man")
    args = ap.parse_args()
    program = " ".join(shlex.quote(a) for a in (sys.executable, os.path.abspath(__file__), "--print",
                                                 os.path.abspath(args.binary)))
    cmd = [args.help2man, "--no-info", "--section", "1", "--name", args.name, "--output", args.output + ".tmp"]
    if args.include:
        cmd += ["--include", args.include]
    subprocess.run(cmd + [program], check=True)
    with open(args.output + ".tmp", encoding="utf-8") as f:
        page = f.read()
    # help2man keeps the colon of a subsection's heading ("cutoverctl set [OPTIONS] route:").
    page = re.sub(r'(?m)^\.SS "(.*):"$', r'.SS "\1"', page)
    # No hyphenation: option names and commands must read as typed (not "--if-gen-" "eration").
    page = re.sub(r"(?m)^(\.TH .*)$", r"\1\n.nh\n.ad l", page, count=1)
    # Example commands: a dash is the ASCII one to copy, and no place to break the line at.
    page = re.sub(r"(?m)^\\f\(CW\$ .*$", lambda m: m.group(0).replace("-", "\\-"), page)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(page)
    os.remove(args.output + ".tmp")
    return 0


if __name__ == "__main__":
    sys.exit(main())
