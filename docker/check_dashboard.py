#!/usr/bin/env python3
"""Checks docker/grafana-dashboard.json: valid JSON with what Grafana needs to import it (title,
uid, schemaVersion, panels with unique ids, a type, a 24-column gridPos that overlaps no other
panel, Prometheus targets with refId and expr), the panels an operator watches during a ramp, and,
given the text of a live GET /metrics, that every cutover_* metric the queries use exists.

    python3 docker/check_dashboard.py [DASHBOARD] [--metrics FILE]

Exit 0 when it holds, 1 with one line per problem. tests/integration/test_runbook.py imports
check() with the /metrics of a running cutover.
"""
import argparse
import json
import re
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent / "grafana-dashboard.json"
# What the issue asks the dashboard to show: each must be used by at least one panel's query.
REQUIRED = {
    "requests/s per side": r"rate\(cutover_requests_total\{[^}]*\}\[[^]]+\]\)\)",
    "error rate per side": r'code_class="5xx"',
    "p99 per side": r"histogram_quantile\(0\.99, sum by \(side, le\) \(rate\(cutover_request_duration_seconds_bucket",
    "weights": r"cutover_route_weight",
    "mirror match rate": r'cutover_mirror_requests_total\{[^}]*result="match"',
    "held writes": r"cutover_writes_held",
    "ramp step": r"cutover_ramp_step",
}
_METRIC = re.compile(r"\b(cutover_[a-z0-9_]+)")


def metric_names(text: str) -> set:
    """Names in a Prometheus text exposition; a histogram also counts as NAME_bucket/_sum/_count."""
    names = set()
    for line in text.splitlines():
        m = re.match(r"#\s*TYPE\s+(\S+)\s+(\S+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) == "histogram":
                names.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, 1)[0])
    return names


def check(dash: dict, metrics_text: str | None = None) -> list[str]:
    errors = []
    for key, typ in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list),
                     ("templating", dict), ("time", dict)):
        if not isinstance(dash.get(key), typ):
            errors.append(f"top-level '{key}' missing or not a {typ.__name__}")
    if errors:
        return errors
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dash["uid"]):
        errors.append(f"uid {dash['uid']!r}: Grafana allows up to 40 of [A-Za-z0-9_-]")
    variables = {v.get("name") for v in dash["templating"].get("list", [])}
    ids, cells, exprs = set(), {}, []
    for p in dash["panels"]:
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if not isinstance(p.get("id"), int) or p["id"] in ids:
            errors.append(f"{where}: id missing or not unique")
        ids.add(p.get("id"))
        if not p.get("type") or not p.get("title"):
            errors.append(f"{where}: type and title are required")
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in "hwxy") or g["x"] < 0 or g["x"] + g["w"] > 24:
            errors.append(f"{where}: gridPos needs integer h, w, x, y within 24 columns, got {g}")
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    errors.append(f"{where}: overlaps panel {cells[(x, y)]} at x={x} y={y}")
                    break
                cells[(x, y)] = p.get("id")
            else:
                continue
            break
        targets = p.get("targets") or []
        if not targets:
            errors.append(f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(refs):
            errors.append(f"{where}: targets need distinct refIds")
        for t in targets:
            expr = t.get("expr") or ""
            if not expr:
                errors.append(f"{where}: target {t.get('refId')} has no expr")
            if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
                errors.append(f"{where}: unbalanced brackets in {expr!r}")
            for var in re.findall(r"\$(\w+)", expr):
                if var not in variables and not var.startswith("__"):
                    errors.append(f"{where}: ${var} is not a dashboard variable")
            ds = t.get("datasource") or p.get("datasource") or {}
            if ds.get("type") != "prometheus":
                errors.append(f"{where}: datasource must be prometheus, got {ds}")
            exprs.append(expr)
    joined = "\n".join(exprs)
    for what, pattern in REQUIRED.items():
        if not re.search(pattern, joined):
            errors.append(f"no panel shows {what} (a query matching {pattern!r})")
    if metrics_text is not None:
        have = metric_names(metrics_text)
        for name in sorted(set(_METRIC.findall(joined))):
            if name not in have:
                errors.append(f"{name} is queried but not in the /metrics given")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dashboard", nargs="?", default=str(DEFAULT))
    ap.add_argument("--metrics", help="a GET /metrics answer saved to a file")
    args = ap.parse_args()
    try:
        dash = json.loads(Path(args.dashboard).read_text())
    except ValueError as e:
        print(f"{args.dashboard}: not valid JSON: {e}")
        return 1
    metrics = Path(args.metrics).read_text() if args.metrics else None
    errors = check(dash, metrics)
    for e in errors:
        print(f"{args.dashboard}: {e}")
    if not errors:
        print(f"{args.dashboard}: ok ({len(dash['panels'])} panels"
              f"{', metric names checked against ' + args.metrics if args.metrics else ''})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
