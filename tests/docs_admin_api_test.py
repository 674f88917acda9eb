"""docs/admin-api.md against docs/admin-api.openapi.yaml: the page has one "### METHOD PATH"
section for each operation of the description, and none for an operation it does not have (the
unit test tests/unit/admin/openapi_test.cpp ties the description to the server's endpoint table).
Runs under Debian's /usr/bin/python3 (python3-yaml). `python3 tests/docs_admin_api_test.py [MD]`:
MD defaults to docs/admin-api.md."""
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
HEADING = re.compile(r"^###\s+([A-Z]+)\s+(/\S*)\s*$", re.M)


def main() -> int:
    page = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "admin-api.md"
    spec = yaml.safe_load((ROOT / "docs" / "admin-api.openapi.yaml").read_text())
    described = {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in METHODS}
    documented = [(m, p) for m, p in HEADING.findall(page.read_text())]
    problems = [f"{page.name}: no section '### {m} {p}' for an endpoint of admin-api.openapi.yaml"
                for m, p in sorted(described - set(documented))]
    problems += [f"{page.name}: section '### {m} {p}' names no endpoint of admin-api.openapi.yaml"
                 for m, p in sorted(set(documented) - described)]
    problems += [f"{page.name}: '### {m} {p}' twice" for m, p in sorted(set(documented))
                 if documented.count((m, p)) > 1]
    print("\n".join(problems + [f"docs_admin_api: {len(described)} endpoints, {len(problems)} problems"]))
    return int(bool(problems))


if __name__ == "__main__":
    sys.exit(main())
