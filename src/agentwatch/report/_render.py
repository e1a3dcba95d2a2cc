"""Rich tables for a :class:`~agentwatch.report.Summary`, and a span tree for one trace."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from rich import box
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from agentwatch import names
from agentwatch.report._read import SpanView
from agentwatch.report._summary import Group, Summary


def fmt_cost(usd: float) -> str:
    """Dollars with four significant digits below $10 (LLM calls cost fractions of a cent)."""
    if usd == 0:
        return "$0"
    if abs(usd) < 10:
        return f"${usd:.4g}" if abs(usd) >= 0.0001 else f"${usd:.2e}"
    return f"${usd:,.2f}"


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1:
        return f"{s * 1000:.3g}ms"
    return f"{s:.3g}s"


def _fmt_time(ns: int | None) -> str:
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_count(n: int) -> str:
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    if n < 1_000_000_000:
        return f"{n / 1e6:.1f}M"
    return f"{n / 1e9:.1f}G"


def _key(group: Group, fields: Sequence[str]) -> str:
    return "/".join(v for v in (getattr(group, f) for f in fields) if v) or "-"


def _table(title: str, header: str, fields: Sequence[str], rows: Sequence[Group], *,
           runs: bool, top: int | None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                  padding=(0, 1), pad_edge=False)
    table.add_column(header, overflow="fold", min_width=12)
    numeric = ["runs" if runs else "calls", "errors"]
    if runs:
        numeric.append("llm")
    numeric += ["in", "out", "cached", "cost"]
    if runs:
        numeric.append("cost/run")
    else:
        numeric.append("unpriced")
    numeric += ["p50", "p95"]
    for name in numeric:
        table.add_column(name, justify="right")
    shown = rows if top is None else rows[:top]
    for g in shown:
        cells = [_key(g, fields), fmt_count(g.calls),
                 f"[red]{g.errors:,} {g.error_rate:.0%}[/red]" if g.errors else "0"]
        if runs:
            cells.append(fmt_count(g.llm_calls))
        cells += [fmt_count(g.input_tokens), fmt_count(g.output_tokens), fmt_count(g.cached_tokens),
                  fmt_cost(g.cost_usd)]
        if runs:
            cells.append(fmt_cost(g.mean_cost_usd))
        else:
            cells.append(f"[yellow]{g.unpriced:,}[/yellow]" if g.unpriced else "0")
        cells += [fmt_seconds(g.p50_s), fmt_seconds(g.p95_s)]
        table.add_row(*cells)
    if top is not None and len(rows) > top:
        table.caption = f"{len(rows) - top} more rows not shown (--top {top})"
    return table


def render_summary(summary: Summary, console: Console, *, title: str = "agentwatch report",
                   top: int | None = None) -> None:
    t = summary.total
    console.print(f"[bold]{title}[/bold]")
    source = ", ".join(summary.files) if summary.files else "spans in memory"
    console.print(f"{summary.spans:,} spans, {summary.traces:,} traces from {source}")
    console.print(f"from {_fmt_time(summary.first_start_ns)} to {_fmt_time(summary.last_end_ns)}")
    console.print(
        f"model calls: {t.calls:,} ({t.errors:,} failed), tokens in/out/cached: {t.input_tokens:,} / "
        f"{t.output_tokens:,} / {t.cached_tokens:,}, cost: [bold]{fmt_cost(t.cost_usd)}[/bold]"
        + (f", unpriced calls: {t.unpriced:,}" if t.unpriced else "")
    )
    if summary.bad_lines:
        console.print(f"[yellow]{summary.bad_lines} unreadable line(s) skipped[/yellow]")
    if summary.graphs:
        console.print(_table("Graphs", "graph", ("graph",), summary.graphs, runs=True, top=top))
    if summary.stages:
        console.print(_table("Stages", "graph/stage", ("graph", "stage"), summary.stages, runs=True, top=top))
    if summary.providers:
        console.print(_table("Providers", "provider", ("provider",), summary.providers, runs=False, top=top))
    if summary.models:
        console.print(_table("Models", "provider/model", ("provider", "model"), summary.models,
                             runs=False, top=top))
    if not summary.spans:
        console.print("[yellow]no spans matched[/yellow]")


def _label(span: SpanView) -> str:
    a = span.attributes
    parts = [f"[bold]{span.name}[/bold]", fmt_seconds(max(span.end_ns - span.start_ns, 0) / 1e9)]
    if names.GEN_AI_USAGE_INPUT_TOKENS in a or names.GEN_AI_USAGE_OUTPUT_TOKENS in a:
        inp, out = a.get(names.GEN_AI_USAGE_INPUT_TOKENS, 0), a.get(names.GEN_AI_USAGE_OUTPUT_TOKENS, 0)
        parts.append(f"tokens {inp}/{out}")
    cost = a.get(names.COST_USD, a.get(names.ROLLUP_COST_USD))
    if isinstance(cost, (int, float)) and cost:
        parts.append(fmt_cost(float(cost)))
    outcome = a.get(names.STAGE_OUTCOME)
    if span.status_code == 2 or outcome == names.OUTCOME_ERROR:
        parts.append(f"[red]error {a.get(names.ERROR_TYPE, '')}[/red]".replace(" ]", "]"))
    elif outcome == names.OUTCOME_INTERRUPTED:
        parts.append("[yellow]interrupted[/yellow]")
    return "  ".join(parts)


def render_tree(spans: Sequence[SpanView], console: Console, trace_id: str) -> None:
    """The spans of one trace as a tree (children in start order); orphans hang off the root."""
    by_id = {s.span_id: s for s in spans}
    children: dict[str, list[SpanView]] = {}
    roots: list[SpanView] = []
    for s in spans:
        if s.parent_span_id and s.parent_span_id in by_id:
            children.setdefault(s.parent_span_id, []).append(s)
        else:
            roots.append(s)
    tree = Tree(f"trace {trace_id}")

    def add(node: Tree, span: SpanView, depth: int) -> None:
        branch = node.add(_label(span))
        if depth > 100:
            return
        for child in sorted(children.get(span.span_id, ()), key=lambda c: c.start_ns):
            add(branch, child, depth + 1)

    for root in sorted(roots, key=lambda s: s.start_ns):
        add(tree, root, 0)
    console.print(tree)
