"""Polars SQL snippets from the catalog (filters, expressions), compiled safely.

Filters and expressions are polars SQL (`pl.sql_expr`): they can name columns and call SQL
functions, never run Python.
"""

from __future__ import annotations

from functools import cache

import polars as pl


@cache
def compile_sql(text: str) -> tuple[pl.Expr | None, str | None]:
    """Compile a polars SQL expression; return (expression, None) or (None, problem)."""
    try:
        return pl.sql_expr(text), None
    except (pl.exceptions.SQLSyntaxError, pl.exceptions.SQLInterfaceError) as exc:
        return None, f"'{text}' is not a valid SQL expression: {_first_line(exc)}"
    except pl.exceptions.PolarsError as exc:
        return None, f"'{text}' cannot be used: {_first_line(exc)}"


def sql_expr(text: str) -> pl.Expr:
    """The compiled expression for text that compile_sql has already accepted."""
    expr, problem = compile_sql(text)
    if expr is None:
        raise ValueError(problem)
    return expr


def columns_of(expr: pl.Expr) -> list[str]:
    """The column names an expression reads."""
    return list(dict.fromkeys(expr.meta.root_names()))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
