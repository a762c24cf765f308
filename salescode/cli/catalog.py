"""`metrics`, `tree`, `validate` and `init`: the catalog itself."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from salescode.cli.common import (
    CatalogOption,
    CrmOption,
    app,
    load_catalog_option,
    note,
    output_options,
    progress,
    send_view,
    table_console,
    user_errors,
    warn,
)
from salescode.errors import SalescodeError

if TYPE_CHECKING:
    from salescode.output import Destination


@app.command("metrics")
@output_options
def list_metrics(
    catalog: CatalogOption = None,
    *,
    dest: Destination,
) -> None:
    """List the catalog's metrics: name, level, category, definition and target.

    Example: salescode metrics --format markdown
    """
    from salescode.render.catalog_view import metrics_rows, write_metrics_markdown, write_metrics_table

    with user_errors():
        spec = load_catalog_option(catalog, check_expressions=False)

        send_view(
            dest,
            metrics_rows(spec),
            markdown=lambda out: write_metrics_markdown(spec, out),
            terminal=lambda console: write_metrics_table(spec, console),
        )


@app.command()
def tree(catalog: CatalogOption = None) -> None:
    """Show the AOR drives-graph: each result, the objectives that drive it, and their activities.

    Example: salescode tree
    """
    from salescode.render.catalog_view import write_tree

    with user_errors():
        spec = load_catalog_option(catalog, check_expressions=False)
        write_tree(spec, table_console(sys.stdout))


@app.command()
def validate(catalog: CatalogOption = None) -> None:
    """Check the catalog and the data: every problem is listed; exit code 2 if any.

    Reads every source the catalog uses, checks every column a metric needs, parses every
    typed value, and checks declared keys for duplicates; checks the planning: columns (headcount,
    potential) and computes the latest month's payout when the catalog has compensation plans.

    Example: salescode validate --catalog examples/maven/metrics.yaml
    """
    from salescode.validation import validate_catalog

    with user_errors():
        spec = load_catalog_option(catalog)
        with progress("Validating…"):
            validation = validate_catalog(spec)
        warnings = validation.warnings
        for reading_note in validation.notes:
            note(f"note: {reading_note}")
        for warning in warnings:
            warn(warning)
        noted = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''} above)" if warnings else ""
        note(
            f"ok: {spec.path}: {len(spec.metrics)} metrics, {len(spec.funnels)} funnel(s) over "
            f"{len(spec.sources)} sources are valid{noted}"
        )


@app.command()
def init(
    folder: Annotated[
        Path, typer.Argument(help="The folder of the CRM export files.", metavar="[DIR]", file_okay=False)
    ] = Path("."),
    crm: Annotated[
        CrmOption | None,
        typer.Option(
            "--crm", help="The CRM the files come from (default: recognised from names and headers)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Where to write the catalog (default: DIR/metrics.yaml).", metavar="FILE"
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing catalog file.")] = False,
) -> None:
    """Write a starter metrics.yaml for a folder of CRM export files.

    Recognises the CRM, gives each file a role (deals, users, accounts, stage history,
    activities, currency rates), maps the columns, orders the funnel's stages as found in the
    data, and writes the standard metrics the columns support; it says which it could not create,
    and why. Amounts in several currencies are converted when there is a rates file (Salesforce
    CurrencyType.csv). Without a stage column, leads and a file of won leads give a Lead → Won
    funnel. The catalog is validated before init returns; its paths are relative to it. An
    existing file is never overwritten without --force.

    \b
    Examples:
      salescode init exports/ && cd exports && salescode report
      salescode init sf_export --crm salesforce --output sf.yaml
    """
    from salescode.output import emit
    from salescode.starter import build_starter
    from salescode.validation import validate_catalog

    with user_errors():
        target = output or folder / "metrics.yaml"
        if target.exists() and not force:
            raise SalescodeError(
                f"{target} exists; pass --force to overwrite it, or --output to write elsewhere"
            )
        with progress("Reading the export…"):
            starter = build_starter(folder, crm.value if crm else None, target.parent)
        emit(lambda out: out.write(starter.text), target)
        for starter_note in starter.notes:
            note(f"init: {starter_note}")
        for missing in starter.missing:
            note(f"init: not created: {missing}")
        with progress("Validating…"):
            validation = validate_catalog(load_catalog_option(target))
        for warning in validation.warnings:
            warn(warning)
        note(f"ok: wrote {target}; next: salescode report --catalog {target}")
