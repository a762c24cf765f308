"""The command line: parse options, call the library, render, map errors to exit codes.

Only this package knows about Typer. `common` holds the app and the options; each other module
holds one group of commands, registered on the app when imported here.
"""

from __future__ import annotations

from salescode.cli import (  # noqa: F401 - registers the commands
    analysis,
    cache,
    catalog,
    funnels,
    performance,
    planning,
    scorecard,
)
from salescode.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
