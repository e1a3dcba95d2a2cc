"""What a benchmark leaves behind: ``results.json``, ``summary.md``, ``chart.png``, and tables on screen."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from agentwatch.bench.baseline import Verdict

CHART_MISSING = "chart.png skipped: matplotlib is not installed (pip install 'agentwatch[bench]')"


def fmt_usd(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        return f"${value:.6f}"
    if abs(value) < 10:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def fmt_int(value: int) -> str:
    return f"{value:,}"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}x ({value - 1:+.0%})"


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def dumps(results: dict[str, Any]) -> str:
    """The canonical text of ``results.json`` (stable key order, no NaN, trailing newline)."""
    return json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: Path, value: dict[str, Any]) -> None:
    path.write_text(dumps(value), encoding="utf-8")


# --- rows shared by the console and Markdown ------------------------------------------------------
def _share(part: float | None, whole: float | None) -> str:
    if not part or not whole:
        return "-"
    return f"{part / whole:.0%}"


def _outcomes(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{n} {o}" for o, n in outcomes.items()) or "-"


def _drop_empty(
    header: list[str], rows: list[list[str]], optional: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """Leave out the optional columns that are zero in every row (no cache writes, no reasoning ...)."""
    keep = [i for i, h in enumerate(header) if h not in optional or any(r[i] not in ("0", "-") for r in rows)]
    return [header[i] for i in keep], [[r[i] for i in keep] for r in rows]


def stage_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    mean = results["cost_per_run_usd"]["mean"]
    header = ["stage", "runs", "outcomes", "calls", "in tok", "cached", "out tok", "cost/run", "share"]
    rows = [
        [
            s["stage"],
            fmt_int(s["executions"]),
            _outcomes(s["outcomes"]),
            fmt_int(s["calls"]),
            fmt_int(s["tokens"]["input"]),
            fmt_int(s["tokens"]["cache_read"]),
            fmt_int(s["tokens"]["output"]),
            fmt_usd(s["cost_per_run_usd"]),
            _share(s["cost_per_run_usd"], mean),
        ]
        for s in results["stages"]
    ]
    return _drop_empty(header, rows, ("cached",))


def model_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    mean = results["cost_per_run_usd"]["mean"]
    header = [
        "model",
        "calls",
        "errors",
        "in tok",
        "cached",
        "cache wr",
        "out tok",
        "reasoning",
        "cost/run",
        "share",
    ]
    rows = []
    for m in results["models"]:
        t = m["tokens"]
        cost = fmt_usd(m["cost_per_run_usd"])
        if m["unpriced_calls"]:
            cost += f" ({m['unpriced_calls']} unpriced)"
        rows.append(
            [
                f"{m['provider']}:{m['model']}",
                fmt_int(m["calls"]),
                fmt_int(m["call_errors"]),
                fmt_int(t["input"]),
                fmt_int(t["cache_read"]),
                fmt_int(t["cache_write"]),
                fmt_int(t["output"]),
                fmt_int(t["reasoning"]),
                cost,
                _share(m["cost_per_run_usd"], mean),
            ]
        )
    return _drop_empty(header, rows, ("errors", "cached", "cache wr", "reasoning"))


def counterfactual_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]], list[str]]:
    """The table and its footnotes (why a number is an estimate)."""
    header = ["all chat calls on", "cost/run", "p95/run", "vs actual", "tokens"]
    rows = [
        [
            "(the actual models)",
            fmt_usd(results["cost_per_run_usd"]["mean"]),
            fmt_usd(results["cost_per_run_usd"]["p95"]),
            "1.00x",
            "reported",
        ]
    ]
    notes: list[str] = []
    for c in results["counterfactual"]:
        name = f"{c['provider']}:{c['model']}" if c.get("provider") else c["model"]
        if not c["priced"]:
            rows.append([name, "-", "-", "-", "no price"])
            notes.append(f"{name}: {c['note']}")
            continue
        tokens = "same"
        if not c["exact_tokens"]:
            notes.append(f"{name}: {c['note']}")
            tokens = f"estimate [{len(notes)}]"
        rows.append(
            [
                name,
                fmt_usd(c["cost_per_run_usd"]["mean"]),
                fmt_usd(c["cost_per_run_usd"]["p95"]),
                fmt_ratio(c["vs_actual"]),
                tokens,
            ]
        )
    return header, rows, [f"[{i}] {n}" for i, n in enumerate(notes, start=1)]


def headline(results: dict[str, Any]) -> str:
    c = results["cost_per_run_usd"]
    runs = results["runs"]
    prices = results["prices"]
    return (
        f"{runs['count']} runs ({runs['ok']} ok, {runs['errors']} failed) of {results['workload']}: "
        f"cost per run {fmt_usd(c['mean'])} (p50 {fmt_usd(c['p50'])}, p95 {fmt_usd(c['p95'])}), "
        f"total {fmt_usd(c['total'])}; prices {', '.join(prices['sources']) or '?'} as of {prices['date']}"
    )


def verdict_lines(v: Verdict) -> list[str]:
    change = "n/a" if v.change is None else f"{v.change:+.2%}"
    lines = [
        f"baseline {fmt_usd(v.baseline)} per run, now {fmt_usd(v.current)} ({change}; limit +{v.limit:.1%}): "
        + ("OK" if v.ok else "FAILED")
    ]
    lines += [f"  - {r}" for r in v.reasons]
    lines += [f"  note: {n}" for n in v.notes]
    return lines


# --- console --------------------------------------------------------------------------------------
def _rich_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def print_results(console: Console, results: dict[str, Any], timing: dict[str, Any] | None = None) -> None:
    console.print(_rich_table("Cost per stage", *stage_rows(results)))
    console.print(_rich_table("Cost per model", *model_rows(results)))
    if results["counterfactual"]:
        header, rows, notes = counterfactual_rows(results)
        console.print(_rich_table("The same usage on other models", header, rows))
        for note in notes:
            console.print(note, markup=False, style="dim")
    if timing is not None:
        t = timing["runs"]
        console.print(f"run latency: p50 {fmt_seconds(t['p50_s'])}, p95 {fmt_seconds(t['p95_s'])}")
    console.print(headline(results))


# --- Markdown -------------------------------------------------------------------------------------
def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    out = [
        "| " + " | ".join(cell(h) for h in header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def markdown(
    results: dict[str, Any], timing: dict[str, Any] | None, verdict: Verdict | None, chart: str | None
) -> str:
    c = results["cost_per_run_usd"]
    inputs = results.get("inputs", {})
    parts = [
        f"# Cost benchmark: `{results['workload']}`",
        "",
        f"{inputs.get('count', '?')} inputs (`{inputs.get('file', '?')}`, "
        f"sha256 `{str(inputs.get('sha256', ''))[:12]}`)"
        f" x {results.get('repeat', 1)} = {results['runs']['count']} runs, "
        f"{results['runs']['ok']} ok, {results['runs']['errors']} failed. "
        f"Prices: {', '.join(results['prices']['sources']) or '?'} as of {results['prices']['date']}.",
        "",
        f"**Cost per run: {fmt_usd(c['mean'])}** (p50 {fmt_usd(c['p50'])}, p95 {fmt_usd(c['p95'])}, "
        f"min {fmt_usd(c['min'])}, max {fmt_usd(c['max'])}); total {fmt_usd(c['total'])}.",
        "",
    ]
    if verdict is not None:
        parts += ["## Against the baseline", "", *verdict_lines(verdict), ""]
        rows = [
            [stage, fmt_usd(b), fmt_usd(n), "-" if not b or n is None else f"{n / b - 1:+.1%}"]
            for stage, b, n in verdict.stages
        ]
        parts += [_md_table(["stage", "baseline / run", "now / run", "change"], rows), ""]
    if chart:
        parts += [f"![Cost per run, by stage and model]({chart})", ""]
    parts += ["## Per stage", "", _md_table(*stage_rows(results)), ""]
    parts += ["## Per model", "", _md_table(*model_rows(results)), ""]
    if results["counterfactual"]:
        parts += [
            "## The same usage on other models",
            "",
            "What the runs would have cost had every chat call gone to one model with the same token "
            "usage (embeddings keep their model). Where that model's tokenizer differs from the one that "
            "counted the tokens, the number is an estimate.",
            "",
        ]
        header, rows, footnotes = counterfactual_rows(results)
        parts += [_md_table(header, rows), "", *[f"{n}  " for n in footnotes], ""]
    calls = results["calls"]
    notes = []
    if calls["unpriced"]:
        notes.append(
            f"{calls['unpriced']} calls have no known price and are not in the costs "
            "(add prices with --prices)."
        )
    if calls["without_usage"]:
        notes.append(f"{calls['without_usage']} calls reported no usage and are not in the costs.")
    if calls["estimated_usage"]:
        notes.append(f"{calls['estimated_usage']} calls had their tokens counted by agentwatch (estimated).")
    if calls["outside_runs"]:
        notes.append(
            f"{calls['outside_runs']} model calls happened outside the runs (e.g. at import) "
            "and are not counted."
        )
    if notes:
        parts += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    if timing is not None:
        rows = [["run", fmt_seconds(timing["runs"]["p50_s"]), fmt_seconds(timing["runs"]["p95_s"])]]
        rows += [
            [f"stage {k}", fmt_seconds(v["p50_s"]), fmt_seconds(v["p95_s"])]
            for k, v in timing["stages"].items()
        ]
        rows += [
            [f"model {k}", fmt_seconds(v["p50_s"]), fmt_seconds(v["p95_s"])]
            for k, v in timing["models"].items()
        ]
        parts += [
            "## Latency",
            "",
            "Measured on this machine; it varies from run to run and is not part of results.json.",
            "",
            _md_table(["", "p50", "p95"], rows),
            "",
        ]
    return "\n".join(parts)


# --- chart ----------------------------------------------------------------------------------------
def write_chart(results: dict[str, Any], path: Path) -> bool:
    """Cost per run by stage: the actual models (stacked), next to each ``--models`` alternative.
    Returns False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError:
        return False

    stages = [s["stage"] for s in results["stages"] if s["cost_per_run_usd"]]
    if not stages:
        stages = [s["stage"] for s in results["stages"]]
    alts = [c for c in results["counterfactual"] if c["priced"]]
    models = [f"{m['model']}" for m in results["models"]]
    palette = [f"C{i}" for i in range(10)]  # matplotlib's default colour cycle
    alt_palette = ["#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494", "#b3b3b3"]
    width = 0.8 / (1 + len(alts))
    fig, (ax, ax_total) = plt.subplots(
        1, 2, figsize=(11 + 0.6 * len(alts), 6.4), gridspec_kw={"width_ratios": [3, 1.2]}
    )
    xs = range(len(stages))
    bottoms = [0.0] * len(stages)
    for mi, m in enumerate(results["models"]):
        heights = []
        for stage in stages:
            v = next(
                (
                    sm["cost_per_run_usd"] or 0.0
                    for sm in results["stage_models"]
                    if sm["stage"] == stage and sm["provider"] == m["provider"] and sm["model"] == m["model"]
                ),
                0.0,
            )
            heights.append(v)
        ax.bar(
            [x - 0.4 + width / 2 for x in xs],
            heights,
            width,
            bottom=bottoms,
            color=palette[mi % len(palette)],
            edgecolor="white",
            linewidth=0.5,
        )
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    for ai, alt in enumerate(alts):
        offset = -0.4 + width * (ai + 1.5)
        heights = [alt["stages"].get(stage, 0.0) for stage in stages]
        ax.bar(
            [x + offset for x in xs],
            heights,
            width,
            color=alt_palette[ai % len(alt_palette)],
            hatch="" if alt["exact_tokens"] else "//",
            edgecolor="#444444",
            linewidth=0.5,
        )
    ax.set_xticks(list(xs))
    ax.set_xticklabels(stages, rotation=15, ha="right")
    ax.set_ylabel("USD per run")
    ax.set_title("Cost per run, by stage")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"${v:g}")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    handles = [
        Patch(color=palette[i % len(palette)], label=f"actual: {name}") for i, name in enumerate(models)
    ]
    handles += [
        Patch(
            facecolor=alt_palette[i % len(alt_palette)],
            edgecolor="#444444",
            hatch="" if a["exact_tokens"] else "//",
            label=f"all chat on {a['model']}" + ("" if a["exact_tokens"] else " (estimate)"),
        )
        for i, a in enumerate(alts)
    ]
    ax.legend(
        handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False
    )

    names = ["actual", *[a["model"] for a in alts]]
    totals = [
        results["cost_per_run_usd"]["mean"] or 0.0,
        *[a["cost_per_run_usd"]["mean"] or 0.0 for a in alts],
    ]
    colors = ["#555555", *[alt_palette[i % len(alt_palette)] for i in range(len(alts))]]
    bars = ax_total.barh(names[::-1], totals[::-1], color=colors[::-1])
    for bar, value in zip(bars, totals[::-1], strict=True):
        ax_total.text(
            bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + fmt_usd(value), va="center", fontsize=8
        )
    ax_total.set_title("Total per run")
    ax_total.set_xlim(0, max(totals) * 1.45 if max(totals) > 0 else 1)
    ax_total.set_xticks([])
    ax_total.spines[["top", "right", "bottom"]].set_visible(False)
    fig.suptitle(
        f"{results['workload']}: {results['runs']['count']} runs, prices as of {results['prices']['date']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return True
