#!/usr/bin/env python3
"""The man pages the build makes with help2man (packaging/man/): each renders with man(1),
exit 0 and no warning from man or groff, and names every flag and command of its binary's --help
(and, for cutoverctl, every option of every command). `man ./build/cutover.1`, the form a reader
types in the repository, shows the same page.

  manpages_test.py BUILD_DIR     (ctest passes it; CUTOVER_BIN and CUTOVERCTL_BIN name the binaries)
"""
import os
import pathlib
import re
import subprocess
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "packaging" / "man"))
import clihelp  # noqa: E402

BUILD = pathlib.Path(sys.argv.pop(1) if len(sys.argv) > 1 else "build").resolve()
BINARIES = {"cutover": os.environ.get("CUTOVER_BIN", str(BUILD / "cutover")),
            "cutoverctl": os.environ.get("CUTOVERCTL_BIN", str(BUILD / "cutoverctl"))}
# groff's hyphen and minus signs in a UTF-8 locale, read as the ASCII hyphen-minus.
DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2212": "-"})


def render(args: list[str], locale: str, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess:
    """man ARGS at 80 columns, keeping the formatter's warnings (man-db drops them by default)."""
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_STDERR="1", LC_ALL=locale, LANG=locale, MANPAGER="cat",
               PAGER="cat")
    env.pop("MAN_KEEP_FORMATTING", None)
    return subprocess.run(["man", "--warnings", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, timeout=60)


def names_in_help(binary: str) -> list[str]:
    """Every flag and command of the binary's --help, and the options of each command."""
    text = clihelp.help_text(binary)
    names = clihelp.options(text) + clihelp.commands(text)
    for command in clihelp.commands(text):
        names += clihelp.options(clihelp.help_text(binary, command))
    return names


def mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


class ManPages(unittest.TestCase):
    def page(self, program: str) -> pathlib.Path:
        page = BUILD / f"{program}.1"
        self.assertTrue(page.is_file(), f"{page} was not built: is help2man installed (scripts/setup.sh)?")
        return page

    def test_pages_render_without_warnings(self):
        for program in BINARIES:
            for locale in ("C", "C.UTF-8"):
                with self.subTest(program=program, locale=locale):
                    r = render(["-l", str(self.page(program))], locale)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(r.stderr, "")
                    self.assertIn(program.upper(), r.stdout.splitlines()[0])

    def test_pages_name_every_flag_and_command(self):
        for program, binary in BINARIES.items():
            with self.subTest(program=program):
                text = render(["-l", str(self.page(program))], "C.UTF-8").stdout.translate(DASHES)
                names = names_in_help(binary)
                self.assertIn("--version", names)
                missing = [n for n in names if not mentions(text, n)]
                self.assertEqual(missing, [], f"{program}.1 does not name these, which --help lists")

    def test_cutoverctl_page_shows_each_commands_examples(self):
        binary = BINARIES["cutoverctl"]
        text = render(["-l", str(self.page("cutoverctl"))], "C").stdout
        flat = " ".join(text.split())
        commands = clihelp.commands(clihelp.help_text(binary))
        self.assertIn("ramp-abort", commands)
        for command in commands:
            examples = clihelp.block(clihelp.help_text(binary, command), "Examples")
            self.assertTrue(examples, f"cutoverctl {command} --help has no examples")
            for example in examples:
                if example.strip():
                    self.assertIn(" ".join(example.split()), flat)

    def test_man_of_a_relative_path_from_the_repository_root(self):
        # man takes an argument with a slash for a file: `man ./build/cutover.1` from the root.
        for program in BINARIES:
            with self.subTest(program=program):
                page = self.page(program)
                relative = "./" + str(page.relative_to(BUILD.parent))
                r = render([relative], "C", cwd=BUILD.parent)
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                self.assertEqual(r.stdout, render(["-l", str(page)], "C").stdout)


if __name__ == "__main__":
    unittest.main()
