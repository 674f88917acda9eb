#!/usr/bin/env python3
"""docker/Dockerfile's build stage gets every file the CMake build reads: the folders that the
top-level CMakeLists.txt adds (and the files at the top it reads) are copied by a COPY of the
whole tree or of the folder, and no .dockerignore pattern keeps out a source file of theirs.
No container engine runs in CI, so this is how a folder added to the build without the image
noticing fails the suite instead of the next `docker build`."""
import fnmatch
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def build_stage_copies() -> list:
    """The sources of the COPY lines of the first stage (up to the second FROM)."""
    stage, froms = [], 0
    for line in (ROOT / "docker" / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            froms += 1
            if froms == 2:
                break
        m = re.match(r"COPY\s+(?!--from)(.+)\s+\S+\s*$", line)
        if m:
            stage += m.group(1).split()
    return stage


def ignore_patterns() -> list:
    path = ROOT / ".dockerignore"
    if not path.exists():
        return []
    return [p.strip().rstrip("/") for p in path.read_text().splitlines() if p.strip() and not p.startswith("#")]


def ignored(rel: str, patterns: list) -> bool:
    """Docker's rule, near enough: a pattern matches the path or one of its parent folders."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    for p in patterns:
        if p.startswith("!"):
            continue
        pat = p[3:] if p.startswith("**/") else p
        if any(fnmatch.fnmatchcase(x, p) for x in prefixes) or \
           (p.startswith("**/") and any(fnmatch.fnmatchcase(x.rsplit("/", 1)[-1], pat) for x in prefixes)):
            return True
    return False


def main() -> int:
    top = (ROOT / "CMakeLists.txt").read_text()
    folders = {d.split("/")[0] for d in re.findall(r"add_subdirectory\(\s*([\w./-]+)", top)}
    # Files outside those folders that a CMakeLists.txt names (the OpenAPI description it embeds).
    for cm in ROOT.glob("*/**/CMakeLists.txt"):
        if cm.parts[len(ROOT.parts)] in folders and not cm.is_relative_to(ROOT / "tests"):
            folders |= set(re.findall(r"\$\{PROJECT_SOURCE_DIR\}/([\w./-]+)", cm.read_text()))
    needed = ["CMakeLists.txt", *sorted(folders)]
    copies = build_stage_copies()
    problems = []
    whole = any(c in (".", "./") for c in copies)
    for item in needed:
        if not whole and not any(c.rstrip("/") == item for c in copies):
            problems.append(f"docker/Dockerfile's build stage copies neither the tree nor {item}")
    # The files of the source tree (a checkout or an archive of one: no git needed), without build trees.
    tracked = []
    for item in needed:
        path = ROOT / item
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        tracked += [str(f.relative_to(ROOT)) for f in files
                    if not any(part.startswith("build") or part == "__pycache__" for part in f.relative_to(ROOT).parts)]
    # What a build reads: sources, CMake files, the generators' scripts and the embedded texts, not
    # the benchmark results or the READMEs beside them.
    tracked = [f for f in tracked if re.search(r"(\.(cpp|hpp|h|cmake|py|h2m|in|yaml)|CMakeLists\.txt)$", f)
               or f in needed]
    patterns = ignore_patterns()
    for f in tracked:
        if ignored(f, patterns):
            problems.append(f".dockerignore keeps out {f}, which the build reads")
    for p in problems:
        print(p)
    print(f"dockerfile: {len(needed)} folders and files the build reads, {len(tracked)} source files, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
