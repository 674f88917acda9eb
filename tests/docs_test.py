#!/usr/bin/env python3
"""docs/cutoverctl.md and docs/cutover.md against the real binaries' --help, both ways: every
command, option, environment variable, exit code (and signal, for cutover) that --help lists is
documented, and the docs document nothing that --help does not list.

  docs_test.py cutoverctl|cutover     (CUTOVERCTL_BIN, CUTOVER_BIN name the binaries; default build/)

The pages' shape that this reads: "## Heading" sections; in them, tables whose first cell holds
the documented names as code spans (`--weight N`, `CUTOVER_ADMIN`, `0`); in cutoverctl.md, one
"### NAME" section per command under "## Commands", each with its synopsis line (`cutoverctl NAME ...`)
and an example (a "$ cutoverctl NAME ..." line in a code block, followed by its output).
"""
import os
import pathlib
import re
import sys
import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging" / "man"))
import clihelp  # noqa: E402

PROGRAM = sys.argv.pop(1) if len(sys.argv) > 1 else "cutoverctl"
BINARY = os.environ.get(f"{PROGRAM.upper()}_BIN", str(ROOT / "build" / PROGRAM))
DOC = ROOT / "docs" / f"{PROGRAM}.md"
HELP_FLAGS = {"-h", "--help"}  # CLI11's own, on every command: said once in the page, not per command


def sections(text: str, level: str) -> dict[str, str]:
    """Heading text -> body for the headings of `level` ("##" or "###")."""
    parts = re.split(rf"(?m)^{level} +(.+)$", text)
    return {parts[i].strip().strip("`"): parts[i + 1] for i in range(1, len(parts), 2)}


def first_cells(body: str) -> list[str]:
    """The code spans of the first cell of each table row (not the header or the rule)."""
    spans = []
    rows = [line for line in body.splitlines() if line.startswith("|")]
    for row in rows[2:] if rows else []:
        cell = row.split("|")[1]
        spans += re.findall(r"`([^`]+)`", cell)
    return spans


def documented_options(body: str) -> set[str]:
    return {span.split()[0] for span in first_cells(body) if span.startswith("-")} - HELP_FLAGS


def help_options(text: str) -> set[str]:
    return set(clihelp.options(text)) - HELP_FLAGS


def help_block_names(text: str, heading: str, pattern: str) -> set[str]:
    """The names in the first column of a --help block ("  SIGTERM, SIGINT   drain: ...")."""
    columns = [m.group(1) for line in clihelp.block(text, heading) if (m := re.match(r" {2}(\S.*?)(?: {2,}|$)", line))]
    return {name for column in columns for name in re.findall(pattern, column)}


def doc_table_names(body: str, pattern: str) -> set[str]:
    return {span for span in first_cells(body) if re.fullmatch(pattern, span)}


class Drift(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.help = clihelp.help_text(BINARY)
        cls.doc = DOC.read_text(encoding="utf-8")
        cls.sections = sections(cls.doc, "##")

    def section(self, name: str) -> str:
        self.assertIn(name, self.sections, f"{DOC.name} has no '## {name}' section")
        return self.sections[name]

    def assertSame(self, in_help: set[str], in_doc: set[str], what: str, may_be_empty: bool = False):
        if not may_be_empty:
            self.assertTrue(in_help, f"--help lists no {what}: the parser no longer reads it")
        self.assertEqual(sorted(in_help - in_doc), [], f"{what} that --help lists and {DOC.name} does not document")
        self.assertEqual(sorted(in_doc - in_help), [], f"{what} that {DOC.name} documents and --help does not list")

    def test_options(self):
        heading = "Global options" if PROGRAM == "cutoverctl" else "Options"
        self.assertSame(help_options(self.help), documented_options(self.section(heading)), "options")

    def test_environment(self):
        # cutover reads no variable: its page says so, and --help does too.
        in_help = help_block_names(self.help, "Environment", r"\b[A-Z][A-Z0-9_]+\b")
        in_doc = doc_table_names(self.section("Environment"), r"[A-Z][A-Z0-9_]+")
        self.assertSame(in_help, in_doc, "environment variables")

    def test_exit_status(self):
        self.assertSame(help_block_names(self.help, "Exit status", r"^\d+$"),
                        doc_table_names(self.section("Exit status"), r"\d+"), "exit codes")

    @unittest.skipUnless(PROGRAM == "cutover", "cutover's signals")
    def test_signals(self):
        self.assertSame(help_block_names(self.help, "Signals", r"\bSIG[A-Z0-9]+\b"),
                        {s for span in first_cells(self.section("Signals")) for s in re.findall(r"SIG[A-Z0-9]+", span)},
                        "signals")

    @unittest.skipUnless(PROGRAM == "cutoverctl", "cutoverctl's commands")
    def test_commands_and_their_options(self):
        documented = sections(self.section("Commands"), "###")
        self.assertSame(set(clihelp.commands(self.help)), set(documented), "commands")
        for name in clihelp.commands(self.help):
            with self.subTest(command=name):
                text = clihelp.help_text(BINARY, name)
                body = documented[name]
                self.assertSame(help_options(text), documented_options(body), f"options of {name}", may_be_empty=True)
                self.assertEqual({p.upper() for p in clihelp.positionals(text)},
                                 {s for s in first_cells(body) if re.fullmatch(r"[A-Z]+", s)},
                                 f"arguments of {name}")
                self.assertRegex(body, rf"(?m)^ *`cutoverctl {re.escape(name)}\b", f"{name}: no synopsis line")
                self.assertRegex(body, rf"(?m)^\$ cutoverctl (--\S+ \S+ )*{re.escape(name)}\b", f"{name}: no example")


if __name__ == "__main__":
    unittest.main()
