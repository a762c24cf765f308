"""Catalog text -> validated Catalog. Every problem is collected with its key path, then raised once."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from salescode.catalog.model import (
    CATEGORIES,
    LEVEL_ORDER,
    Agg,
    Catalog,
    ColumnType,
    Conversion,
    CurrencyConversion,
    Dimension,
    Direction,
    Format,
    Funnel,
    FunnelStage,
    Grain,
    Headcount,
    History,
    Join,
    Level,
    Metric,
    MetricKind,
    Planning,
    Potential,
    ReaderSettings,
    Source,
    Target,
    TargetFile,
)
from salescode.catalog.plans import check_compensation, parse_compensation, plan_expressions
from salescode.catalog.yamlsafe import YamlProblem, load_yaml
from salescode.errors import CatalogError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# A derived formula is arithmetic over metric names: names, numbers, + - * / and parentheses.
_FORMULA_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<op>[-+*/()]))")

E = TypeVar("E", bound=Enum)

_TOP_KEYS = {
    "version",
    "name",
    "currency",
    "week_start",
    "fiscal_year_start",
    "sources",
    "dimensions",
    "metrics",
    "targets",
    "funnels",
    "planning",
    "compensation",
}
_PLANNING_KEYS = {"funnel", "rep", "headcount", "potential", "ramp_months", "min_sample"}
_SOURCE_KEYS = {
    "path",
    "key",
    "time",
    "columns",
    "types",
    "joins",
    "separator",
    "encoding",
    "decimal_comma",
    "thousands",
    "date_format",
    "null_values",
    "sheet",
    "currency",
}
_METRIC_KEYS = {
    "conversion",
    "label",
    "level",
    "category",
    "source",
    "agg",
    "expr",
    "filter",
    "time",
    "ratio",
    "derived",
    "format",
    "direction",
    "target",
    "description",
    "drives",
}
_FUNNEL_KEYS = {
    "label",
    "source",
    "stage",
    "stages",
    "lost",
    "exclude",
    "history",
    "cohort",
    "lost_stage",
    "value",
    "stage_since",
    "stale_after",
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a choice is close to word, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def formula_names(formula: str) -> list[str] | None:
    """The metric names a derived formula reads, or None when it is not plain arithmetic."""
    tokens: list[tuple[str, str]] = []
    position = 0
    text = formula.rstrip()
    while position < len(text):
        match = _FORMULA_TOKEN.match(text, position)
        if not match:
            return None
        assert match.lastgroup is not None
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    if not tokens or not _is_arithmetic(tokens):
        return None
    return [value for kind, value in tokens if kind == "name"]


def _is_arithmetic(tokens: list[tuple[str, str]]) -> bool:
    """Grammar check: expr = term (('+'|'-') term)*; term = factor (('*'|'/') factor)*;
    factor = ('+'|'-') factor | number | name | '(' expr ')'."""
    position = 0

    def peek() -> str | None:
        return tokens[position][1] if position < len(tokens) else None

    def factor() -> bool:
        nonlocal position
        if position >= len(tokens):
            return False
        kind, value = tokens[position]
        position += 1
        if value in ("+", "-"):
            return factor()
        if kind in ("number", "name"):
            return True
        if value == "(":
            if not expr() or peek() != ")":
                return False
            position += 1
            return True
        return False

    def chain(operand: Callable[[], bool], operators: tuple[str, str]) -> bool:
        nonlocal position
        if not operand():
            return False
        while peek() in operators:
            position += 1
            if not operand():
                return False
        return True

    def term() -> bool:
        return chain(factor, ("*", "/"))

    def expr() -> bool:
        return chain(term, ("+", "-"))

    return expr() and position == len(tokens)


class _Problems:
    """Collects 'key.path: message' lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{path}: {message}")

    def mapping(
        self, value: Any, path: str, allowed: set[str], required: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Check value is a mapping with only allowed keys and all required keys."""
        if not isinstance(value, dict):
            self.add(path, f"expected a mapping, got {_kind(value)}")
            return {}
        for key in value:
            if key not in allowed:
                self.add(
                    f"{path}.{key}" if path else str(key),
                    "unknown key"
                    + did_you_mean(str(key), allowed)
                    + f" (allowed: {', '.join(sorted(allowed))})",
                )
        for key in required:
            if value.get(key) is None:
                self.add(f"{path}.{key}" if path else key, "required key is missing")
        return value

    def text(self, value: Any, path: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.add(path, f"expected text, got {_kind(value)}")
            return None
        return str(value)

    def number(self, value: Any, path: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.add(path, f"expected a number, got {_kind(value)}")
            return None
        return float(value)

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            self.add(path, f"expected true or false, got {_kind(value)}")
            return False
        return value

    def enum(self, enum: type[E], value: Any, path: str) -> E | None:
        if value is None:
            return None
        try:
            return enum(value)
        except ValueError:
            choices = [member.value for member in enum]
            self.add(
                path,
                f"'{value}' is not one of {', '.join(choices)}" + did_you_mean(str(value), choices),
            )
            return None

    def text_list(self, value: Any, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list):
            self.add(path, f"expected a list, got {_kind(value)}")
            return ()
        items = [self.text(item, f"{path}[{i}]") for i, item in enumerate(value)]
        return tuple(item for item in items if item is not None)

    def named_section(self, value: Any, path: str, build: Callable[[str, Any, str], Any]) -> dict[str, Any]:
        """Build each entry of a name -> definition mapping, checking the names."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(path, f"expected a mapping of names, got {_kind(value)}")
            return {}
        built = {}
        for name, definition in value.items():
            entry_path = f"{path}.{name}"
            if not isinstance(name, str) or not NAME_RE.match(name):
                self.add(entry_path, "names are lower_snake_case (a-z, 0-9, _), starting with a letter")
                continue
            item = build(name, definition, entry_path)
            if item is not None:
                built[name] = item
        return built


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    return f"'{value}'"


def load_catalog(path: Path, *, check_expressions: bool = True) -> Catalog:
    """Read and validate the catalog at path."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise CatalogError(path, ["file not found"]) from exc
    except IsADirectoryError as exc:
        raise CatalogError(path, ["is a directory; --catalog names a file"]) from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(path, ["is not UTF-8 text; save the catalog as UTF-8"]) from exc
    except OSError as exc:
        raise CatalogError(path, [f"cannot be read ({exc.strerror})"]) from exc
    return parse_catalog(text, source=path, check_expressions=check_expressions)


def parse_catalog(text: str, *, source: Path, check_expressions: bool = True) -> Catalog:
    """Validate catalog YAML text; paths in it are relative to source's folder."""
    try:
        raw = load_yaml(text)
    except YamlProblem as exc:
        raise CatalogError(source, [str(exc)]) from exc
    problems = _Problems()
    catalog = _build(raw, source, problems)
    if catalog is not None:
        _cross_check(catalog, problems)
        if check_expressions and not problems.lines:
            _check_expressions(catalog, problems)
    if problems.lines:
        raise CatalogError(source, problems.lines)
    assert catalog is not None
    return catalog


def _build(raw: Any, source: Path, problems: _Problems) -> Catalog | None:
    if raw is None:
        problems.add("catalog", "the file is empty; see the README for the catalog format")
        return None
    top = problems.mapping(raw, "", _TOP_KEYS, required=("version", "sources", "metrics"))
    if not top:
        return None
    if top.get("version") not in (None, 1):
        problems.add("version", f"unsupported version {top['version']!r}; this salescode reads version 1")
    base = source.parent
    week_start = str(top.get("week_start", "monday")).lower()
    if week_start not in WEEKDAYS:
        problems.add("week_start", f"'{week_start}' is not a weekday name (e.g. monday)")
    fiscal = top.get("fiscal_year_start", 1)
    if isinstance(fiscal, bool) or not isinstance(fiscal, int) or not 1 <= fiscal <= 12:
        problems.add("fiscal_year_start", f"expected a month number 1-12, got {_kind(fiscal)}")
        fiscal = 1
    return Catalog(
        path=source,
        name=problems.text(top.get("name"), "name") or source.stem,
        currency=problems.text(top.get("currency"), "currency") or "USD",
        week_start=week_start,
        fiscal_year_start=fiscal,
        sources=problems.named_section(
            top.get("sources"), "sources", lambda n, d, p: _source(n, d, p, base, problems)
        ),
        dimensions=problems.named_section(
            top.get("dimensions"), "dimensions", lambda n, d, p: _dimension(n, d, p, problems)
        ),
        metrics=problems.named_section(
            top.get("metrics"), "metrics", lambda n, d, p: _metric(n, d, p, problems)
        ),
        targets=_target_files(top.get("targets"), problems),
        funnels=problems.named_section(
            top.get("funnels"), "funnels", lambda n, d, p: _funnel(n, d, p, problems)
        ),
        planning=_planning(top.get("planning"), problems),
        compensation=parse_compensation(top.get("compensation"), problems),
    )


def _source(name: str, raw: Any, path: str, base: Path, problems: _Problems) -> Source | None:
    spec = problems.mapping(raw, path, _SOURCE_KEYS, required=("path",))
    if not spec:
        return None
    file_path = problems.text(spec.get("path"), f"{path}.path")
    if file_path is None:
        return None
    columns = {}
    raw_columns = spec.get("columns") or {}
    if not isinstance(raw_columns, dict):
        problems.add(f"{path}.columns", "expected a mapping of canonical name: header in the file")
    else:
        for canonical, header in raw_columns.items():
            text = problems.text(header, f"{path}.columns.{canonical}")
            if text is not None:
                columns[str(canonical)] = text
    types = {}
    raw_types = spec.get("types") or {}
    if not isinstance(raw_types, dict):
        problems.add(f"{path}.types", "expected a mapping of column: type")
    else:
        for column, type_name in raw_types.items():
            column_type = problems.enum(ColumnType, type_name, f"{path}.types.{column}")
            if column_type is not None:
                types[str(column)] = column_type
    separator = problems.text(spec.get("separator"), f"{path}.separator")
    if separator is not None and len(separator.replace("\\t", "\t")) != 1:
        problems.add(f"{path}.separator", f"expected one character, got '{separator}'")
    decimal_comma = problems.boolean(spec.get("decimal_comma", False), f"{path}.decimal_comma")
    null_values = spec.get("null_values")
    reader = ReaderSettings(
        separator=separator.replace("\\t", "\t") if separator else None,
        encoding=problems.text(spec.get("encoding"), f"{path}.encoding"),
        decimal_comma=decimal_comma,
        thousands=problems.text(spec.get("thousands"), f"{path}.thousands"),
        date_format=problems.text(spec.get("date_format"), f"{path}.date_format"),
        sheet=problems.text(spec.get("sheet"), f"{path}.sheet"),
        null_values=("",) if null_values is None else problems.text_list(null_values, f"{path}.null_values"),
    )
    return Source(
        name=name,
        path=base / file_path,
        key=problems.text(spec.get("key"), f"{path}.key"),
        time=problems.text(spec.get("time"), f"{path}.time"),
        columns=columns,
        types=types,
        reader=reader,
        joins=_joins(spec.get("joins"), f"{path}.joins", problems),
        currency=_currency(spec.get("currency"), f"{path}.currency", problems),
    )


def _currency(raw: Any, path: str, problems: _Problems) -> CurrencyConversion | None:
    """sources.X.currency: {column:, convert:, rates: {CODE: rate}} or {column:, source:, code:, rate:}."""
    if raw is None:
        return None
    allowed = {"column", "convert", "rates", "source", "code", "rate"}
    spec = problems.mapping(raw, path, allowed, required=("column",))
    column = problems.text(spec.get("column"), f"{path}.column")
    if column is None:
        return None
    has_rates, has_source = spec.get("rates") is not None, spec.get("source") is not None
    if has_rates == has_source:
        problems.add(path, "give either rates: {CODE: rate, ...} or source: (a source of rates), not both")
    if not has_source:
        for key in ("code", "rate"):
            if key in spec:
                problems.add(f"{path}.{key}", "only with source: (the rates source's column)")
    rates = {}
    raw_rates = spec.get("rates") or {}
    if not isinstance(raw_rates, dict):
        problems.add(f"{path}.rates", "expected a mapping of currency code: rate, e.g. {EUR: 0.92}")
        raw_rates = {}
    for code, value in raw_rates.items():
        rate = problems.number(value, f"{path}.rates.{code}")
        if rate is not None and rate <= 0:
            problems.add(f"{path}.rates.{code}", f"a rate must be above 0, got {value}")
        elif rate is not None:
            rates[str(code).strip().upper()] = rate
    convert = problems.text_list(spec.get("convert"), f"{path}.convert") if "convert" in spec else ("amount",)
    if not convert:
        problems.add(f"{path}.convert", "expected the columns to convert, e.g. [amount]")
    return CurrencyConversion(
        column=column,
        convert=convert,
        rates=rates,
        source=problems.text(spec.get("source"), f"{path}.source"),
        code=problems.text(spec.get("code"), f"{path}.code") or "code",
        rate=problems.text(spec.get("rate"), f"{path}.rate") or "rate",
    )


def _joins(raw: Any, path: str, problems: _Problems) -> tuple[Join, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add(path, "expected a list of {source:, on:, columns:}")
        return ()
    joins = []
    for i, item in enumerate(raw):
        item_path = f"{path}[{i}]"
        spec = problems.mapping(item, item_path, {"source", "on", "columns"}, required=("source", "on"))
        if not spec or spec.get("on") is None or spec.get("source") is None:
            continue
        on = spec["on"]
        if isinstance(on, dict) and len(on) == 1:
            ((left, right),) = on.items()
        elif isinstance(on, str):
            left = right = on
        else:
            problems.add(f"{item_path}.on", "expected a column name, or {left_column: right_column}")
            continue
        columns = (
            problems.text_list(spec.get("columns"), f"{item_path}.columns") if "columns" in spec else None
        )
        joins.append(
            Join(source=str(spec["source"]), left_on=str(left), right_on=str(right), columns=columns)
        )
    return tuple(joins)


def _dimension(name: str, raw: Any, path: str, problems: _Problems) -> Dimension:
    spec = problems.mapping(raw or {}, path, {"label", "description"})
    return Dimension(name=name, label=problems.text(spec.get("label"), f"{path}.label") or name)


def _metric(name: str, raw: Any, path: str, problems: _Problems) -> Metric | None:
    spec = problems.mapping(raw, path, _METRIC_KEYS, required=("level", "category"))
    if not spec:
        return None
    level = problems.enum(Level, spec.get("level"), f"{path}.level")
    category = problems.text(spec.get("category"), f"{path}.category")
    if level is not None and category is not None and category not in CATEGORIES[level]:
        other = [lvl.value for lvl, cats in CATEGORIES.items() if category in cats]
        hint = (
            f"; '{category}' is a {other[0]} category" if other else did_you_mean(category, CATEGORIES[level])
        )
        problems.add(
            f"{path}.category",
            f"'{category}' is not a {level.value} category (one of {', '.join(CATEGORIES[level])}){hint}",
        )
    kinds = [key for key in ("agg", "ratio", "derived", "conversion") if spec.get(key) is not None]
    if len(kinds) != 1:
        problems.add(path, "define exactly one of agg (with source), ratio, derived or conversion")
        return None
    fields: dict[str, Any] = {}
    if kinds == ["agg"]:
        fields = _simple_fields(spec, path, problems)
    elif kinds == ["ratio"]:
        ratio = problems.mapping(
            spec["ratio"],
            f"{path}.ratio",
            {"numerator", "denominator"},
            required=("numerator", "denominator"),
        )
        numerator = problems.text(ratio.get("numerator"), f"{path}.ratio.numerator")
        denominator = problems.text(ratio.get("denominator"), f"{path}.ratio.denominator")
        fields = {
            "kind": MetricKind.RATIO,
            "numerator": numerator,
            "denominator": denominator,
            "inputs": tuple(n for n in (numerator, denominator) if n),
        }
        _reject(spec, path, ("source", "expr", "filter", "time"), "a ratio", problems)
    elif kinds == ["conversion"]:
        fields = _conversion_fields(spec, path, problems)
    else:
        formula = problems.text(spec["derived"], f"{path}.derived") or ""
        names = formula_names(formula)
        if names is None:
            problems.add(
                f"{path}.derived",
                f"'{formula}' is not arithmetic over metric names (use names, numbers, + - * / and ())",
            )
            names = []
        fields = {"kind": MetricKind.DERIVED, "formula": formula, "inputs": tuple(dict.fromkeys(names))}
        _reject(spec, path, ("source", "expr", "filter", "time"), "a derived metric", problems)
    target = None
    if spec.get("target") is not None:
        target_spec = problems.mapping(
            spec["target"], f"{path}.target", {"value", "per"}, required=("value",)
        )
        value = problems.number(target_spec.get("value"), f"{path}.target.value")
        if value is not None:
            target = Target(
                value=value, per=problems.enum(Grain, target_spec.get("per"), f"{path}.target.per")
            )
    if level is None or category is None or not fields:
        return None
    return Metric(
        name=name,
        label=problems.text(spec.get("label"), f"{path}.label") or name.replace("_", " ").capitalize(),
        level=level,
        category=category,
        format=problems.enum(Format, spec.get("format"), f"{path}.format") or _default_format(fields),
        direction=problems.enum(Direction, spec.get("direction"), f"{path}.direction"),
        target=target,
        description=problems.text(spec.get("description"), f"{path}.description") or "",
        drives=problems.text_list(spec.get("drives"), f"{path}.drives"),
        **fields,
    )


def _conversion_fields(spec: dict[str, Any], path: str, problems: _Problems) -> dict[str, Any]:
    where = f"{path}.conversion"
    raw = problems.mapping(
        spec["conversion"],
        where,
        {"funnel", "from", "to", "cohort", "strict"},
        required=("funnel", "from", "to"),
    )
    _reject(
        spec,
        path,
        ("source", "expr", "filter", "time"),
        "a conversion",
        problems,
        "it counts the funnel's deals",
    )
    names = [problems.text(raw.get(key), f"{where}.{key}") for key in ("funnel", "from", "to")]
    flags = {key: problems.boolean(raw.get(key, False), f"{where}.{key}") for key in ("cohort", "strict")}
    if None in names:
        return {}
    funnel, start, end = names
    assert funnel is not None and start is not None and end is not None
    return {"kind": MetricKind.CONVERSION, "conversion": Conversion(funnel, start, end, **flags)}


def _default_format(fields: dict[str, Any]) -> Format:
    if fields.get("kind") in (MetricKind.RATIO, MetricKind.CONVERSION):
        return Format.PERCENT
    if fields.get("agg") in (Agg.COUNT, Agg.COUNT_DISTINCT):
        return Format.INTEGER
    return Format.NUMBER


def _simple_fields(spec: dict[str, Any], path: str, problems: _Problems) -> dict[str, Any]:
    agg = problems.enum(Agg, spec.get("agg"), f"{path}.agg")
    source = problems.text(spec.get("source"), f"{path}.source")
    if source is None:
        problems.add(f"{path}.source", "required key is missing (the source the metric aggregates)")
    expr = problems.text(spec.get("expr"), f"{path}.expr")
    if agg is Agg.COUNT and expr is not None:
        problems.add(f"{path}.expr", "count counts rows; use count_distinct to count values, or a filter")
    if agg is not None and agg is not Agg.COUNT and expr is None:
        problems.add(f"{path}.expr", f"required for agg {agg.value} (the column or expression to aggregate)")
    if agg is None or source is None:
        return {}
    return {
        "kind": MetricKind.SIMPLE,
        "agg": agg,
        "source": source,
        "expr": expr,
        "filter": problems.text(spec.get("filter"), f"{path}.filter"),
        "time": problems.text(spec.get("time"), f"{path}.time"),
    }


def _reject(
    spec: dict[str, Any],
    path: str,
    keys: Iterable[str],
    what: str,
    problems: _Problems,
    why: str = "filters and sources belong to its input metrics",
) -> None:
    for key in keys:
        if spec.get(key) is not None:
            problems.add(f"{path}.{key}", f"not used by {what}; {why}")


def _target_files(raw: Any, problems: _Problems) -> tuple[TargetFile, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add("targets", "expected a list of {metric:, source:, value:, period:, by:}")
        return ()
    built = []
    for i, item in enumerate(raw):
        path = f"targets[{i}]"
        spec = problems.mapping(
            item,
            path,
            {"metric", "source", "value", "period", "by"},
            required=("metric", "source", "value"),
        )
        if not spec or any(spec.get(key) is None for key in ("metric", "source", "value")):
            continue
        built.append(
            TargetFile(
                metric=str(spec["metric"]),
                source=str(spec["source"]),
                value=str(spec["value"]),
                period=str(spec.get("period") or "period"),
                by=problems.text(spec.get("by"), f"{path}.by"),
            )
        )
    return tuple(built)


def _funnel(name: str, raw: Any, path: str, problems: _Problems) -> Funnel | None:
    spec = problems.mapping(raw, path, _FUNNEL_KEYS, required=("source", "stages"))
    if not spec or spec.get("source") is None or spec.get("stages") is None:
        return None
    stages = []
    raw_stages = spec["stages"]
    if not isinstance(raw_stages, list) or len(raw_stages) < 2:
        problems.add(f"{path}.stages", "expected a list of at least two stages, first to last")
        raw_stages = []
    for i, item in enumerate(raw_stages):
        stage_path = f"{path}.stages[{i}]"
        if isinstance(item, dict):
            stage = problems.mapping(
                item, stage_path, {"name", "match", "filter", "entered"}, required=("name",)
            )
            stage_name = problems.text(stage.get("name"), f"{stage_path}.name")
            if stage_name is None:
                continue
            values = problems.text_list(stage.get("match"), f"{stage_path}.match") or (stage_name,)
            stages.append(
                FunnelStage(
                    name=stage_name,
                    values=values,
                    filter=problems.text(stage.get("filter"), f"{stage_path}.filter"),
                    entered=problems.text(stage.get("entered"), f"{stage_path}.entered"),
                )
            )
        else:
            stage_name = problems.text(item, stage_path)
            if stage_name is not None:
                stages.append(FunnelStage(name=stage_name, values=(stage_name,)))
    names = [stage.name for stage in stages]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.add(f"{path}.stages", f"stage '{duplicate}' is listed twice")
    history = None
    raw_history = spec.get("history")
    if isinstance(raw_history, str):
        history = History(source=raw_history)
    elif raw_history is not None:
        hist = problems.mapping(
            raw_history, f"{path}.history", {"source", "stage", "entered"}, required=("source",)
        )
        if hist.get("source") is not None:
            history = History(
                source=str(hist["source"]),
                stage=str(hist.get("stage") or "stage"),
                entered=str(hist.get("entered") or "entered"),
            )
    uses_stage_column = history is None and not any(stage.filter for stage in stages)
    stage_column = problems.text(spec.get("stage"), f"{path}.stage")
    if uses_stage_column and stage_column is None:
        problems.add(f"{path}.stage", "required key is missing (the column with the current stage)")
    return Funnel(
        name=name,
        label=problems.text(spec.get("label"), f"{path}.label") or name.replace("_", " ").capitalize(),
        source=str(spec["source"]),
        stage=stage_column,
        stages=tuple(stages),
        lost=problems.text_list(spec.get("lost"), f"{path}.lost"),
        exclude=problems.text_list(spec.get("exclude"), f"{path}.exclude"),
        history=history,
        cohort=problems.text(spec.get("cohort"), f"{path}.cohort"),
        lost_stage=problems.text(spec.get("lost_stage"), f"{path}.lost_stage"),
        value=problems.text(spec.get("value"), f"{path}.value"),
        stage_since=problems.text(spec.get("stage_since"), f"{path}.stage_since"),
        stale_after=_positive_days(spec.get("stale_after", 30), f"{path}.stale_after", problems),
    )


def _planning(raw: Any, problems: _Problems) -> Planning:
    """The `planning:` section (plan and coach); every key optional."""
    if raw is None:
        return Planning()
    spec = problems.mapping(raw, "planning", _PLANNING_KEYS)
    headcount = potential = None
    if spec.get("headcount") is not None:
        hc = problems.mapping(
            spec["headcount"], "planning.headcount", {"source", "hired", "left"}, required=("source", "hired")
        )
        if hc.get("source") is not None and hc.get("hired") is not None:
            headcount = Headcount(
                source=str(hc["source"]),
                hired=str(hc["hired"]),
                left=problems.text(hc.get("left"), "planning.headcount.left"),
            )
    if spec.get("potential") is not None:
        pot = problems.mapping(
            spec["potential"],
            "planning.potential",
            {"source", "value", "by"},
            required=("source", "value", "by"),
        )
        if all(pot.get(key) is not None for key in ("source", "value", "by")):
            potential = Potential(source=str(pot["source"]), value=str(pot["value"]), by=str(pot["by"]))
    counts = {}
    for key, default, least in (("ramp_months", 3, 0), ("min_sample", 10, 1)):
        value = spec.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            problems.add(f"planning.{key}", f"expected a whole number of {least} or more, got {_kind(value)}")
            value = default
        counts[key] = value
    return Planning(
        funnel=problems.text(spec.get("funnel"), "planning.funnel"),
        rep=problems.text(spec.get("rep"), "planning.rep") or "rep",
        headcount=headcount,
        potential=potential,
        **counts,
    )


def _positive_days(value: Any, path: str, problems: _Problems) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.add(path, f"expected a whole number of days (1 or more), got {_kind(value)}")
        return 30
    return value


def _cross_check(catalog: Catalog, problems: _Problems) -> None:
    """References between sections: sources, metrics, dimensions, cycles."""
    sources, metrics = catalog.sources, catalog.metrics

    def need_source(name: str | None, path: str) -> None:
        if name is not None and name not in sources:
            problems.add(path, f"unknown source '{name}'" + did_you_mean(name, sources))

    def need_metric(name: str | None, path: str) -> None:
        if name is not None and name not in metrics:
            problems.add(path, f"unknown metric '{name}'" + did_you_mean(name, metrics))

    for source in sources.values():
        if source.currency and source.currency.source:
            need_source(source.currency.source, f"sources.{source.name}.currency.source")
            if source.currency.source == source.name:
                problems.add(f"sources.{source.name}.currency.source", "the rates must be another source")
        for i, join in enumerate(source.joins):
            need_source(join.source, f"sources.{source.name}.joins[{i}].source")
            if join.source == source.name:
                problems.add(f"sources.{source.name}.joins[{i}].source", "a source cannot join itself")
    for metric in metrics.values():
        path = f"metrics.{metric.name}"
        need_source(metric.source, f"{path}.source")
        if metric.kind is MetricKind.RATIO:
            need_metric(metric.numerator, f"{path}.ratio.numerator")
            need_metric(metric.denominator, f"{path}.ratio.denominator")
        elif metric.kind is MetricKind.DERIVED:
            for name in metric.inputs:
                need_metric(name, f"{path}.derived")
        elif metric.conversion is not None:
            _check_conversion(catalog, metric, problems)
        for name in metric.drives:
            need_metric(name, f"{path}.drives")
            target = metrics.get(name)
            if target is not None and LEVEL_ORDER[target.level] < LEVEL_ORDER[metric.level]:
                problems.add(
                    f"{path}.drives",
                    f"a {metric.level.value} cannot drive the {target.level.value} '{name}' "
                    "(activities drive objectives, objectives drive results)",
                )
    for i, target_file in enumerate(catalog.targets):
        need_metric(target_file.metric, f"targets[{i}].metric")
        need_source(target_file.source, f"targets[{i}].source")
    for funnel in catalog.funnels.values():
        need_source(funnel.source, f"funnels.{funnel.name}.source")
        if funnel.history:
            need_source(funnel.history.source, f"funnels.{funnel.name}.history.source")
    planning = catalog.planning
    if planning.funnel is not None and planning.funnel not in catalog.funnels:
        problems.add(
            "planning.funnel",
            f"unknown funnel '{planning.funnel}'" + did_you_mean(planning.funnel, catalog.funnels),
        )
    if planning.rep not in catalog.dimensions and (planning.rep != "rep" or planning.headcount):
        problems.add(
            "planning.rep",
            f"'{planning.rep}' is not a dimension" + did_you_mean(planning.rep, catalog.dimensions),
        )
    need_source(planning.headcount and planning.headcount.source, "planning.headcount.source")
    need_source(planning.potential and planning.potential.source, "planning.potential.source")
    check_compensation(catalog, problems)
    _check_cycles(
        {m.name: m.inputs for m in metrics.values()}, "metrics", "is computed from itself", problems
    )
    _check_cycles({m.name: m.drives for m in metrics.values()}, "metrics", "drives itself", problems)


def _check_conversion(catalog: Catalog, metric: Metric, problems: _Problems) -> None:
    """The funnel exists and `from` is a stage before `to`."""
    step = metric.conversion
    assert step is not None
    path = f"metrics.{metric.name}.conversion"
    funnel = catalog.funnels.get(step.funnel)
    if funnel is None:
        problems.add(
            f"{path}.funnel", f"unknown funnel '{step.funnel}'" + did_you_mean(step.funnel, catalog.funnels)
        )
        return
    names = [stage.name for stage in funnel.stages]
    for key, name in (("from", step.start), ("to", step.end)):
        if name not in names:
            problems.add(
                f"{path}.{key}",
                f"funnel '{funnel.name}' has no stage '{name}'{did_you_mean(name, names)} "
                f"(stages: {', '.join(names)})",
            )
    if step.start in names and step.end in names and names.index(step.start) >= names.index(step.end):
        problems.add(f"{path}.to", f"'{step.end}' must be a later stage than '{step.start}'")


def _check_cycles(edges: dict[str, tuple[str, ...]], section: str, what: str, problems: _Problems) -> None:
    """Report each cycle once, as a -> b -> a."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    reported: set[frozenset[str]] = set()

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in edges.get(node, ()):
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                cycle = [*trail[trail.index(nxt) :], nxt]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    problems.add(f"{section}.{nxt}", f"{what}: {' -> '.join(cycle)}")
            elif state.get(nxt) is None:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in edges:
        if start not in state:
            visit(start, [start])


def _check_expressions(catalog: Catalog, problems: _Problems) -> None:
    """Compile every filter and expression as polars SQL, so typos fail at load time."""
    from salescode.expressions import compile_sql  # polars is imported only when needed

    for metric in catalog.metrics.values():
        for key in ("expr", "filter"):
            text = getattr(metric, key)
            if text:
                error = compile_sql(text)[1]
                if error:
                    problems.add(f"metrics.{metric.name}.{key}", error)
    for funnel in catalog.funnels.values():
        for i, stage in enumerate(funnel.stages):
            if stage.filter:
                error = compile_sql(stage.filter)[1]
                if error:
                    problems.add(f"funnels.{funnel.name}.stages[{i}].filter", error)
    for path, text in plan_expressions(catalog):
        error = compile_sql(text)[1]
        if error:
            problems.add(path, error)
