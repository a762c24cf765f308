"""`cache info` and `cache clear`."""

from __future__ import annotations

import typer
from rich.console import Console

from salescode.cli.common import app, note

cache_app = typer.Typer(
    help=(
        "The Parquet cache of parsed CSV files: each export is parsed once, later runs read the "
        "Parquet copy. An entry is keyed by the file's path, size, modification time, first and "
        "last bytes and the catalog's reader settings, so a changed file is always read afresh. "
        "Location: $SALESCODE_CACHE_DIR, else $XDG_CACHE_HOME/salescode, else ~/.cache/salescode. "
        "--no-cache (anywhere on a command line) or SALESCODE_NO_CACHE=1 bypasses it."
    ),
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info() -> None:
    """Where the cache is and how much it holds."""
    from salescode.cache import cache_directory, usage

    directory = cache_directory()
    entries, size = usage(directory)
    Console().print(f"{directory}: {entries} file(s), {size / 1e6:,.1f} MB", markup=False, highlight=False)


@cache_app.command("clear")
def cache_clear() -> None:
    """Remove every cached file (they are rebuilt on the next runs)."""
    from salescode.cache import cache_directory, clear

    directory = cache_directory()
    removed, freed = clear(directory)
    note(f"removed {removed} file(s), {freed / 1e6:,.1f} MB, from {directory}")
