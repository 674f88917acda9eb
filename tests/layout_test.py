#!/usr/bin/env python3
"""The include rules of docs/architecture.md "Folders": each folder includes only itself and the folders
listed for it (its own includes with quotes; libraries with angle brackets are not ours). A
subfolder follows its parent's rule unless it has its own (config/sections is config). A folder of
proxy/ not listed here fails the test, so a new one gets its rule when it is made."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# folder -> the folders of ours it may include (besides itself and common/). Lower layers first.
RULES = {
    "common": set(),
    "config": set(),
    # The fleet's etcd client: a library of its own, below the control plane.
    "fleet": set(),
    "proxy/net": {"config"},
    "proxy/router": set(),
    "proxy/stats": {"proxy/router"},
    "proxy/codec": {"proxy/net"},
    "proxy/shadow": {"config", "proxy/codec", "proxy/router", "proxy/stats"},
    "proxy/observe": {"config"},
    "proxy/runtime": {"config", "proxy/net", "proxy/router", "proxy/stats", "proxy/shadow", "proxy/observe"},
    "proxy/upstream": {"config", "proxy/net", "proxy/router", "proxy/runtime"},
    "proxy/exchange": {"config", "proxy/codec", "proxy/net", "proxy/router", "proxy/stats", "proxy/shadow",
                       "proxy/observe", "proxy/runtime", "proxy/upstream"},
    "proxy/channel": {"config", "proxy/codec", "proxy/net", "proxy/router", "proxy/stats", "proxy/shadow",
                      "proxy/observe", "proxy/runtime", "proxy/upstream", "proxy/exchange"},
    "proxy/h2": {"config", "proxy/codec", "proxy/net", "proxy/router", "proxy/stats", "proxy/shadow",
                 "proxy/observe", "proxy/runtime", "proxy/upstream", "proxy/exchange", "proxy/channel"},
    "proxy/http": {"config", "proxy/codec", "proxy/net", "proxy/router", "proxy/stats", "proxy/shadow",
                   "proxy/observe", "proxy/runtime", "proxy/upstream", "proxy/exchange", "proxy/channel",
                   "proxy/h2"},
    "proxy/l4": {"config", "proxy/net", "proxy/router", "proxy/stats", "proxy/observe", "proxy/runtime",
                 "proxy/upstream", "proxy/exchange"},
    "proxy/server": {"config", "proxy/net", "proxy/router", "proxy/stats", "proxy/observe", "proxy/runtime", "proxy/upstream",
                     "proxy/exchange", "proxy/http", "proxy/l4"},
    # The control plane reads runtime state and metrics; it never reaches into sessions or workers.
    "admin": {"config", "fleet", "proxy/net", "proxy/router", "proxy/stats", "proxy/shadow", "proxy/observe", "proxy/runtime"},
    "ctl": {"config"},
    # The composition root wires everything together.
    "app": {"config", "fleet", "admin", "proxy/runtime", "proxy/server", "proxy/stats"},
}
SOURCES = ("*.hpp", "*.cpp")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def unit_of(folder: str) -> str:
    """The folder's rule: its own, else its nearest listed parent's (config/sections is config)."""
    parts = folder.split("/")
    for n in range(len(parts), 0, -1):
        candidate = "/".join(parts[:n])
        if candidate in RULES:
            return candidate
    return folder


def folder_of(path: pathlib.Path) -> str:
    return unit_of(str(path.parent.relative_to(ROOT)))


def main() -> int:
    problems = []
    seen = set()
    for top in ("common", "config", "fleet", "proxy", "admin", "ctl", "app"):
        for pattern in SOURCES:
            for f in (ROOT / top).rglob(pattern):
                folder = folder_of(f)
                seen.add(folder)
                if folder not in RULES:
                    problems.append(f"{f.relative_to(ROOT)}: folder {folder} has no include rule in tests/layout_test.py")
                    continue
                allowed = RULES[folder] | {folder, "common"}
                for n, line in enumerate(f.read_text().splitlines(), 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = unit_of(str(pathlib.PurePosixPath(m.group(1)).parent))
                    if target not in allowed:
                        problems.append(f"{f.relative_to(ROOT)}:{n}: {folder} may not include {m.group(1)}")
    for folder in sorted(set(RULES) - seen):
        problems.append(f"tests/layout_test.py: rule for {folder}, which has no sources")
    for p in problems:
        print(p)
    print(f"layout: {len(seen)} folders, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
