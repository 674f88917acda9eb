#!/usr/bin/env python3
"""README.md and docs/*.md: every relative link points at a file of the repository, every
`#anchor` at a heading of its page (GitHub's slugs), and no page names a tracker number (the word
"issue" followed by a number, or a hash sign followed by one): a reader has no tracker. Links to other sites are not followed (the tests stay offline)."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md",
         ROOT / "tests" / "integration" / "README.md"]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
TRACKER = re.compile(r"\b[Ii]ssues? #?\d+\b|(?<![\w&/(])#\d+\b")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[|\]\([^)]*\)", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: pathlib.Path) -> set:
    text = FENCE.sub("", page.read_text())
    seen, out = {}, set()
    for m in re.finditer(r"^#{1,6} (.+)$", text, re.M):
        s = slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def main() -> int:
    problems = []
    for page in PAGES:
        if not page.exists():
            continue
        text = page.read_text()
        prose = FENCE.sub("", text)
        rel = page.relative_to(ROOT)
        for m in TRACKER.finditer(prose):
            line = prose.count("\n", 0, m.start()) + 1
            problems.append(f"{rel}: '{m.group(0)}' names a tracker number (prose line {line})")
        for m in LINK.finditer(prose):
            target = m.group(1)
            if re.match(r"[a-z]+:", target):
                continue
            path, _, frag = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                problems.append(f"{rel}: link to {target}: no such file")
                continue
            if frag and dest.suffix == ".md" and frag not in anchors(dest):
                problems.append(f"{rel}: link to {target}: no heading with that anchor in {dest.relative_to(ROOT)}")
    for p in problems:
        print(p)
    print(f"docs_links: {len(PAGES)} pages, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
