#!/usr/bin/env python3
"""Checks a reference page against what the code has, so the page cannot drift from it.

  docs_drift.py configuration HELPER docs/configuration.md
      HELPER prints every config key path the loader accepts. Each must have a row in a table of
      the page whose header starts with "key", and each such row must name a key the code has.
      The first yaml block under "## Full example" must load without errors (HELPER FILE) and
      use every top-level section.
  docs_drift.py metrics HELPER docs/metrics.md
      HELPER prints "NAME TYPE" for every metric family registered. Each must have a row in a
      table whose header starts with "metric", giving its type; and every cutover_* name anywhere
      on the page (alert rules included) must be a family, or a histogram's _bucket, _sum, _count.
"""
import os
import re
import subprocess
import sys
import tempfile

CELL_NAME = re.compile(r"^`([^`]+)`$")
METRIC_NAME = re.compile(r"\bcutover_[a-z0-9_]+\b")
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def table_rows(text: str, first_header: str):
    """(line number, cells) of every body row of the tables whose first header cell is
    `first_header`; the header and its |---| line are skipped."""
    rows = []
    in_table = False
    for n, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not in_table:
            in_table = True
            wanted = cells[0].lower() == first_header
            header = True
            continue
        if header:  # the |---|---| line under the header
            header = False
            continue
        if wanted:
            rows.append((n, cells))
    return rows


def helper_lines(helper: str):
    out = subprocess.run([helper], check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def example_block(text: str):
    """The first ```yaml block after the "## Full example" heading, or None."""
    m = re.search(r"^## Full example\n.*?^```yaml\n(.*?)^```", text, re.M | re.S)
    return m.group(1) if m else None


def named_rows(page: str, text: str, first_header: str, problems: list):
    """{name: (line, cells)} of the rows of `first_header` tables; a row whose first cell is not
    one name in backticks, or a name given twice, is a problem."""
    named = {}
    for n, cells in table_rows(text, first_header):
        m = CELL_NAME.match(cells[0])
        if not m:
            problems.append(f"{page}:{n}: first cell {cells[0]!r} is not one `name` in backticks")
            continue
        if m.group(1) in named:
            problems.append(f"{page}:{n}: {m.group(1)} has a row already (line {named[m.group(1)][0]})")
            continue
        named[m.group(1)] = (n, cells)
    return named


def check_configuration(helper: str, page: str, text: str) -> list:
    problems = []
    code = helper_lines(helper)
    documented = named_rows(page, text, "key", problems)
    for key in code:
        if key not in documented:
            problems.append(f"{page}: config key {key} is not documented (a row `{key}` in a key table)")
    known = set(code)
    for key, (n, _) in documented.items():
        if key not in known:
            problems.append(f"{page}:{n}: {key} is documented but the loader has no such key")
    example = example_block(text)
    if example is None:
        problems.append(f"{page}: no ```yaml block under '## Full example'")
        return problems
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "example.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(example)
        run = subprocess.run([helper, path], capture_output=True, text=True)
    if run.returncode != 0:
        problems.append(f"{page}: the full example does not load:\n{run.stdout}")
    top_level = {key for key in code if re.fullmatch(r"[a-z_0-9]+", key)}
    used = set(re.findall(r"^([a-z_0-9]+):", example, re.M))
    for key in sorted(top_level - used):
        problems.append(f"{page}: the full example has no top-level '{key}'")
    return problems


def check_metrics(helper: str, page: str, text: str) -> list:
    problems = []
    code = dict(line.split() for line in helper_lines(helper))
    documented = named_rows(page, text, "metric", problems)
    for name, kind in code.items():
        if name not in documented:
            problems.append(f"{page}: metric family {name} ({kind}) is not documented (a row `{name}` in a metric table)")
        elif len(documented[name][1]) < 2 or documented[name][1][1] != kind:
            problems.append(f"{page}:{documented[name][0]}: {name} is a {kind}, the row says otherwise")
    series = set(code)
    series |= {name + suffix for name, kind in code.items() if kind == "histogram" for suffix in HISTOGRAM_SERIES}
    for n, line in enumerate(text.splitlines(), 1):
        for name in METRIC_NAME.findall(line):
            if name not in series:
                problems.append(f"{page}:{n}: {name} is named but cutover registers no such metric")
    return problems


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in ("configuration", "metrics"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, helper, page = sys.argv[1:]
    with open(page, encoding="utf-8") as f:
        text = f.read()
    problems = (check_configuration if kind == "configuration" else check_metrics)(helper, page, text)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
