"""``python -m benchmarks.overhead``: run every ``bench_*.py`` here in a fresh process, print one table.

Each module follows the protocol in README.md (``main(argv)`` prints one JSON object per line).
Options after the module list are handed to every module (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
COLUMNS = (
    ("case", "case", "<"),
    ("variant", "variant", "<"),
    ("median_us", "median µs", ">"),
    ("p90_us", "p90 µs", ">"),
    ("added_us", "added µs", ">"),
    ("ratio", "x bare", ">"),
    ("floor_ratio", "x floor", ">"),
    ("peer_ratio", "x peer", ">"),
    ("mean_us", "mean µs", ">"),
    ("added_mean_us", "added mean", ">"),
    ("floor_ratio_mean", "x floor (mean)", ">"),
    ("peer_ratio_mean", "x peer (mean)", ">"),
    ("gc_us", "GC µs", ">"),
    ("full_gcs", "full GCs", ">"),
    ("spans_per_call", "spans/call", ">"),
    ("spans_dropped", "dropped", ">"),
    ("rss_growth_kb", "RSS Δ KB", ">"),
    ("processes", "procs", ">"),
)


def modules() -> list[str]:
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def run_module(name: str, extra: list[str], timeout: float) -> tuple[list[dict[str, Any]], str | None]:
    """Run one benchmark module in a fresh interpreter; its rows, or an error text."""
    cmd = [sys.executable, "-m", f"benchmarks.overhead.{name}", *extra]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return [], f"timed out after {timeout:.0f} s"
    rows = []
    for raw in proc.stdout.splitlines():
        line = raw.strip()
        if line.startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            row.setdefault("module", name)
            rows.append(row)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return rows, f"exit {proc.returncode}: {tail}"
    if not rows:
        return rows, "printed no result lines"
    return rows, None


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    cells = [[_cell(r.get(key)) for key, _, _ in COLUMNS] for r in rows]
    widths = [max([len(title), *(len(c[i]) for c in cells)]) for i, (_, title, _) in enumerate(COLUMNS)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if align == "<" else v.rjust(w)
                         for v, w, (_, _, align) in zip(values, widths, COLUMNS, strict=True))

    out = [line([title for _, title, _ in COLUMNS]), line(["-" * w for w in widths])]
    previous = None
    for row, c in zip(rows, cells, strict=True):
        if previous is not None and row.get("case") != previous:
            out.append("")
        previous = row.get("case")
        out.append(line(c))
    return "\n".join(out)


def by_process(rows: list[dict[str, Any]]) -> str:
    """The ratios (by the mean) each worker process measured, for the rows pooled from several."""
    lines = []
    for row in rows:
        for key, title in (("floor_ratio_mean_by_process", "x floor"),
                           ("peer_ratio_mean_by_process", "x peer")):
            values = row.get(key)
            if values and len(values) > 1:
                cells = " ".join(_cell(v) for v in values)
                lines.append(f"{row['case']} / {row['variant']}, {title} (mean) in each process: {cells}")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{python}, {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__)
    parser.add_argument("only", nargs="*", help="modules to run (default: every bench_*.py), e.g. decorators")
    parser.add_argument("--json", action="store_true", help="print the raw result lines instead of a table")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per module (default 1800)")
    args, extra = parser.parse_known_args(argv)
    chosen = modules()
    if args.only:
        wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in args.only}
        unknown = wanted - set(chosen)
        if unknown:
            parser.error(f"no such benchmark module: {', '.join(sorted(unknown))}; have {', '.join(chosen)}")
        chosen = [n for n in chosen if n in wanted]
    all_rows: list[dict[str, Any]] = []
    failures: list[str] = []
    started = time.monotonic()
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows, error = run_module(name, extra, args.timeout)
        all_rows.extend(rows)
        if error:
            failures.append(f"{name}: {error}")
    if args.json:
        for row in all_rows:
            print(json.dumps(row))
    else:
        print(f"# agentwatch overhead benchmarks ({time.monotonic() - started:.0f} s)")
        print(f"# {machine()}")
        given = " ".join(argv if argv is not None else sys.argv[1:])
        print(f"# command: python -m benchmarks.overhead {given}".rstrip())
        print()
        print(table(all_rows))
        spread = by_process(all_rows)
        if spread:
            print()
            print(spread)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
