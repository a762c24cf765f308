"""The catalog shown to people and scripts: `salescode metrics` and `salescode tree`."""

from __future__ import annotations

from typing import IO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from salescode.catalog import LEVEL_ORDER, Catalog, Metric
from salescode.machine import Rows
from salescode.render import LEVEL_TITLES, MetricStyle, format_value, write_markdown


def _ordered(catalog: Catalog) -> list[Metric]:
    return sorted(catalog.metrics.values(), key=lambda m: -LEVEL_ORDER[m.level])


def _target_text(catalog: Catalog, metric: Metric) -> str:
    if metric.target is None:
        source = _target_source(catalog, metric)
        return f"from {source}" if source else ""
    style = MetricStyle(metric.format.value, currency=catalog.currency)
    per = f" per {metric.target.per.value}" if metric.target.per else ""
    return format_value(metric.target.value, style) + per


def metrics_rows(catalog: Catalog) -> Rows:
    columns = (
        "metric", "label", "level", "category", "definition", "format",
        "direction", "target", "target_per", "target_source", "drives",
    )  # fmt: skip
    rows = [
        (
            m.name,
            m.label,
            m.level.value,
            m.category,
            m.definition,
            m.format.value,
            m.direction.value if m.direction else None,
            m.target.value if m.target else None,
            m.target.per.value if m.target and m.target.per else None,
            _target_source(catalog, m),
            ", ".join(m.drives) or None,
        )
        for m in _ordered(catalog)
    ]
    return Rows(columns, rows)


def _target_source(catalog: Catalog, metric: Metric) -> str | None:
    """The targets file source giving per-group targets for metric, if any."""
    return next((t.source for t in catalog.targets if t.metric == metric.name), None)


def write_metrics_table(catalog: Catalog, console: Console) -> None:
    table = Table(title=f"{catalog.name} — metrics", box=box.SIMPLE_HEAVY, title_justify="left")
    for header in ("Metric", "Level", "Category", "Definition", "Target"):
        table.add_column(header)
    level = None
    for metric in _ordered(catalog):
        if metric.level != level:
            level = metric.level
            table.add_row(Text(LEVEL_TITLES[level.value], style="bold underline"))
        table.add_row(
            Text(f"{metric.name}\n{metric.label}"),
            Text(metric.level.value),
            Text(metric.category),
            Text(metric.definition),
            Text(_target_text(catalog, metric)),
        )
    console.print(table)


def write_metrics_markdown(catalog: Catalog, out: IO[str]) -> None:
    rows = [
        [m.name, m.label, m.level.value, m.category, m.definition, _target_text(catalog, m)]
        for m in _ordered(catalog)
    ]
    write_markdown(rows, ["Metric", "Label", "Level", "Category", "Definition", "Target"], out, right=set())


def write_tree(catalog: Catalog, console: Console) -> None:
    """Results at the root, each with the metrics that drive it, down to activities."""
    drivers: dict[str, list[Metric]] = {}
    for metric in catalog.metrics.values():
        for target in metric.drives:
            drivers.setdefault(target, []).append(metric)
    root = Tree(Text(f"{catalog.name} — what drives the results", style="bold"))

    def label(metric: Metric) -> Text:
        return Text.assemble(
            (metric.label, "bold"), f"  {metric.name} · {metric.level.value} · {metric.category}"
        )

    def grow(branch: Tree, metric: Metric, trail: tuple[str, ...]) -> None:
        for driver in drivers.get(metric.name, []):
            if driver.name not in trail:  # the catalog has no cycles; this guards shared branches
                grow(branch.add(label(driver)), driver, (*trail, driver.name))

    linked = {m.name for m in catalog.metrics.values() if m.drives} | set(drivers)
    tops = [m for m in _ordered(catalog) if m.name in drivers and not m.drives]
    for metric in tops:
        grow(root.add(label(metric)), metric, (metric.name,))
    unlinked = [m for m in _ordered(catalog) if m.name not in linked]
    if unlinked:
        loose = root.add(Text("Not linked by drives", style="dim"))
        for metric in unlinked:
            loose.add(label(metric))
    console.print(root)
