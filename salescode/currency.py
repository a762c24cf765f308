"""Multi-currency sources: amounts in each row's currency, converted into the catalog's currency.

A source's `currency:` names the column with each row's currency code and takes its rates either
fixed in the catalog or from another source (Salesforce's CurrencyType.csv: IsoCode,
ConversionRate). A rate is how many units of a currency make one unit of the catalog's currency,
so converted = amount / rate. The rates are a few rows, read once; the conversion is a lazy
expression, so the source is still scanned once. A row with an amount whose currency has no rate
makes the collect fail (never a silent pass-through), and the error path names the value and its
lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from salescode.catalog import Catalog, CurrencyConversion, Source, did_you_mean
from salescode.errors import CatalogError, SourceError
from salescode.sources import Layout, bad_value_message, inspect_source, scan_source


@dataclass(frozen=True)
class CurrencyRates:
    """A source's conversion and the rates it uses (the catalog's currency at 1)."""

    source: Source
    rates: dict[str, float]
    currency: str  # the catalog's currency, the one amounts are converted into

    @property
    def spec(self) -> CurrencyConversion:
        assert self.source.currency is not None
        return self.source.currency

    def _code(self) -> pl.Expr:
        return pl.col(self.spec.column).cast(pl.String).str.strip_chars().str.to_uppercase()

    def _needs_rate(self) -> pl.Expr:
        """Rows with an amount to convert (a row without one needs no currency)."""
        return pl.any_horizontal(pl.col(column).is_not_null() for column in self.spec.convert)

    def apply(self, frame: pl.LazyFrame, layout: Layout) -> pl.LazyFrame:
        """The frame with the amount columns in the catalog's currency."""
        schema = frame.collect_schema()
        path = f"sources.{self.source.name}.currency"
        problems = []
        for key, column in [("column", self.spec.column)] + [("convert", c) for c in self.spec.convert]:
            if column not in schema:
                problems.append(
                    f"{path}.{key}: no column '{column}' in {layout.where()}"
                    f"{did_you_mean(column, schema.names())}"
                )
            elif key == "convert" and not schema[column].is_numeric():
                problems.append(
                    f"{path}.convert: column '{column}' is {schema[column]}, not a number; declare "
                    f"sources.{self.source.name}.types: {{{column}: number}}"
                )
        if problems:
            raise CatalogError(self.source.path, problems)
        rate = (
            pl.when(self._needs_rate())
            .then(self._code().fill_null(""))
            .replace_strict(self.rates, return_dtype=pl.Float64)
        )
        return frame.with_columns((pl.col(column) / rate).alias(column) for column in self.spec.convert)

    def unknown_message(self, layout: Layout) -> str | None:
        """On the error path: the first currency without a rate, with its lines (header = line 1)."""
        found = (
            scan_source(layout)
            .with_row_index("__row")
            .filter(self._needs_rate() & ~self._code().fill_null("").is_in(list(self.rates)))
            .select(self._code().fill_null("").alias("code"), (pl.col("__row") + 2).alias("line"))
            .head(1000)
            .collect()
        )
        if not found.height:
            return None
        code = found["code"][0]
        lines = found.filter(pl.col("code") == code)["line"].to_list()
        listed = ", ".join(map(str, lines[:10])) + (", …" if len(lines) > 10 else "")
        what = f"currency '{code}'" if code else "an empty currency"
        known = ", ".join(sorted(self.rates))
        return (
            f"{layout.where()}: column '{self.spec.column}' has {what} (line{'s' if len(lines) > 1 else ''} "
            f"{listed}) with no rate to {self.currency}; add it to sources.{self.source.name}.currency "
            f"(rates known: {known})"
        )


def currency_rates(catalog: Catalog, source: Source) -> CurrencyRates:
    """The rates for source's conversion: fixed ones, or read from the rates source."""
    spec = source.currency
    assert spec is not None
    path = f"sources.{source.name}.currency"
    target = catalog.currency.strip().upper()
    rates = dict(spec.rates)
    if spec.source:
        rates.update(_read_rates(catalog, spec, path))
    if rates.get(target, 1.0) != 1.0:
        raise SourceError(
            f"{catalog.path}: {path}: the catalog's currency {target} has rate {rates[target]:g}; rates "
            f"are units per 1 {target}, so set the catalog's currency: to the one whose rate is 1"
        )
    rates[target] = 1.0
    return CurrencyRates(source, rates, target)


def _read_rates(catalog: Catalog, spec: CurrencyConversion, path: str) -> dict[str, float]:
    assert spec.source is not None
    layout = inspect_source(catalog.sources[spec.source])
    for key, column in (("code", spec.code), ("rate", spec.rate)):
        if column not in layout.columns:
            raise CatalogError(
                catalog.path,
                [
                    f"{path}.{key}: no column '{column}' in {layout.where()}"
                    f"{did_you_mean(column, layout.columns)} (columns: {', '.join(layout.columns)})"
                ],
            )
    try:
        table = (
            scan_source(layout)
            .with_row_index("__row")
            .select(
                pl.col(spec.code).cast(pl.String).str.strip_chars().str.to_uppercase().alias("code"),
                pl.col(spec.rate).cast(pl.Float64, strict=False).alias("rate"),
                pl.col(spec.rate).cast(pl.String).alias("written"),
                (pl.col("__row") + 2).alias("line"),
            )
            .filter(pl.col("code").is_not_null() & (pl.col("code") != ""))
            .collect()
        )
    except pl.exceptions.PolarsError as exc:
        message = bad_value_message(layout) or f"{layout.where()}: cannot read the rates ({exc})"
        raise SourceError(message) from exc
    bad = table.filter(pl.col("rate").is_null() | (pl.col("rate") <= 0))
    if bad.height:
        row = bad.row(0, named=True)
        raise SourceError(
            f"{layout.where()}: line {row['line']}, column '{spec.rate}': rate '{row['written'] or ''}' for "
            f"{row['code']} is not a number above 0"
        )
    conflicting = (
        table.group_by("code", maintain_order=True)
        .agg(pl.col("rate").n_unique().alias("n"), pl.col("line"))
        .filter(pl.col("n") > 1)
    )
    if conflicting.height:
        row = conflicting.row(0, named=True)
        raise SourceError(
            f"{layout.where()}: {row['code']} has more than one rate (lines "
            f"{', '.join(map(str, row['line']))}); keep one row per currency"
        )
    rates = table.unique("code", keep="first", maintain_order=True)
    return dict(zip(rates["code"].to_list(), rates["rate"].to_list(), strict=True))
