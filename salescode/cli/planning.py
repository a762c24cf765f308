"""`plan` and `coach`: from result targets back to activities, quotas, and one-to-one coaching."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from salescode.cli.common import (
    AsOfOption,
    CatalogOption,
    app,
    load_catalog_option,
    output_options,
    parse_period_option,
    progress,
    send_view,
    today_or_as_of,
    user_errors,
    warn,
)

if TYPE_CHECKING:
    from salescode.allocation import Allocation
    from salescode.catalog import Catalog
    from salescode.chain import Assumption
    from salescode.coach import Scorecard
    from salescode.output import Destination
    from salescode.plan import PlanResult
    from salescode.render import MetricStyle
    from salescode.render.coaching import CoachView


@app.command()
@output_options
def plan(
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            help="The result to plan for, METRIC=VALUE over --period, e.g. won_revenue=1500000.",
            metavar="METRIC=VALUE",
            show_default=False,
        ),
    ],
    catalog: CatalogOption = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            help="The period the target is for (default: the quarter after the basis).",
            metavar="PERIOD",
            show_default=False,
        ),
    ] = None,
    basis: Annotated[
        str | None,
        typer.Option(
            "--basis",
            help="The period whose ratios the plan uses: a period (2025) or last-N-months/quarters/years, "
            "ending with the latest with data before --period (default last-4-quarters).",
            metavar="PERIOD",
            show_default=False,
        ),
    ] = None,
    assume: Annotated[
        list[str] | None,
        typer.Option(
            "--assume",
            "-a",
            help="What-if for a link (repeatable): LINK=VALUE (win_rate=0.30) or LINK=+N% "
            "(avg_deal_size=+10%). Links are named in the Link column.",
            metavar="LINK=VALUE",
            show_default=False,
        ),
    ] = None,
    allocate: Annotated[
        bool,
        typer.Option(
            "--allocate",
            help="Instead of the plan: split the target into quotas per rep (or --by region) by market "
            "potential and basis results, in whole cents per month (csv: a quotas file targets: reads).",
        ),
    ] = False,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            help="With --allocate: how much potential and history weigh, e.g. potential=0.7,history=0.3 "
            "(default half and half; history alone without planning.potential).",
            metavar="potential=W,history=W",
            show_default=False,
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            "-b",
            help="--by rep: a plan per rep, for the rep's share of the basis result, at the rep's own "
            "ratios. With --allocate: the recipients, a dimension (default: reps).",
            metavar="DIM",
            show_default=False,
        ),
    ] = None,
    min_sample: Annotated[
        int | None,
        typer.Option(
            "--min-sample",
            help="Estimate a ratio only from this many observations or more (default: the catalog's "
            "planning.min_sample, else 10).",
            min=1,
            metavar="N",
            show_default=False,
        ),
    ] = None,
    as_of: AsOfOption = None,
    *,
    dest: Destination,
) -> None:
    """Work back from a result target to the deals and activities it takes.

    The plan divides the target by the basis period's result per won deal, walks up the funnel
    through each stage's observed conversion, and turns the deals entering the funnel into every
    activity and objective that drives the target (along the catalog's drives links), as the
    basis did per deal. Each requirement is shown for the period, per rep and per working week,
    against the run-rate (the basis volume scaled to the period's working days) and the gap. Its
    range is the 10th-90th percentile of the same plan made with each rep's own
    ratios. A ratio over too few observations is reported, and what depends on it left empty.
    Capacity rows give the reps the target needs at the observed productivity of ramped reps.

    \b
    Examples:
      salescode plan --target won_revenue=7500000 --period 2026-Q1
      salescode plan --target won_revenue=7500000 --assume win_rate=0.30 --assume avg_deal_size=+10%
      salescode plan --target won_revenue=30000000 --period 2026 --basis 2025
      salescode plan --target won_revenue=7500000 --by rep --format csv > plan_per_rep.csv
      salescode plan --target won_revenue=7500000 --allocate --weights potential=0.7,history=0.3 -o quotas.csv
    """
    from dataclasses import replace

    from salescode.chain import parse_assumption
    from salescode.errors import SalescodeError
    from salescode.plan import PlanRequest, build_plan, parse_target

    with user_errors():
        spec = load_catalog_option(catalog)
        today = today_or_as_of(as_of)
        name, value = parse_target(target)
        request = PlanRequest(
            metric=name,
            target=value,
            period=parse_period_option(spec, period, today) if period else None,
            basis=basis,
            assumptions=tuple(parse_assumption(text) for text in assume or ()),
            min_sample=min_sample,
        )
        if allocate:
            from salescode.allocation import allocate as allocate_quotas
            from salescode.allocation import parse_weights

            if assume:
                raise SalescodeError("--assume changes a plan's links; --allocate only splits the target")
            shares = parse_weights(weights, spec.planning.potential is not None)
            with progress("Allocating…"):
                quotas = allocate_quotas(spec, request, by or spec.planning.rep, shares, today=today)
            _write_allocation(spec, quotas, dest)
            return
        if weights:
            raise SalescodeError("--weights applies to --allocate")
        if by and by != spec.planning.rep:
            raise SalescodeError(
                f"--by {by}: a plan breaks down per rep only (--by {spec.planning.rep}); "
                f"--allocate --by {by} splits a target by {by}"
            )
        with progress("Planning…"):
            result = build_plan(spec, replace(request, by_rep=bool(by)), today=today)
        for warning in result.warnings:
            warn(warning)
        _write_plan(spec, result, dest, request.assumptions)


def _write_allocation(spec: Catalog, result: Allocation, dest: Destination) -> None:
    from salescode.render import MetricStyle
    from salescode.render.planning import AllocationView, write_allocation_markdown, write_allocation_table

    metric = spec.metrics[result.metric]
    weights = ", ".join(f"{name} {share:.0%}" for name, share in result.weights.items())
    view = AllocationView(
        title=f"{spec.name} — quotas for {result.period.label}: {weights} (history: {result.basis.label})",
        by=result.by,
        by_label=spec.dimensions[result.by].label,
        money=MetricStyle(metric.format.value, None, spec.currency),
        note="Weighted share = the weights applied to each share; quotas are whole cents that add up to the "
        "target exactly, split evenly over the months.",
    )

    send_view(
        dest,
        result.frame,
        markdown=lambda out: write_allocation_markdown(result.frame, out, view),
        terminal=lambda console: write_allocation_table(result.frame, console, view),
    )


def _style(spec: Catalog, name: str) -> MetricStyle:
    """How a metric's numbers read (its format, its good direction, the catalog's currency)."""
    from salescode.render import MetricStyle

    metric = spec.metrics[name]
    return MetricStyle(
        metric.format.value, metric.direction.value if metric.direction else None, spec.currency
    )


def _write_plan(
    spec: Catalog, result: PlanResult, dest: Destination, assumptions: tuple[Assumption, ...]
) -> None:
    from salescode.render import MetricStyle
    from salescode.render.planning import PlanView, write_plan_markdown, write_plan_table

    def style(name: str) -> MetricStyle:
        return _style(spec, name)

    items = set(result.frame["item"].to_list())
    styles = {name: style(name) for name in items if name in spec.metrics}
    styles["rep_productivity"] = style(result.metric.name)
    links = {name: MetricStyle("percent") for name in result.frame["link"].drop_nulls() if "->" in name}
    links |= {"avg_deal_size": style(result.metric.name), "rep_productivity": style(result.metric.name)}
    what_if = ", ".join(f"{a.link}={a.text}" for a in assumptions)
    title = (
        f"{spec.name} — plan for {result.metric.label} in {result.period.label}, from {result.basis.label}"
        + (f" with {what_if}" if what_if else "")
    )
    heads = (
        f"{result.headcount} reps on the team" if result.headcount else "no headcount (planning.headcount)"
    )
    notes = [
        "Required: what the target needs at the basis ratios (Ratio: observed → a what-if's value); "
        "P10–P90: the same plan made with each rep's own ratios.",
        f"Run-rate: the basis volume scaled to {result.period.label}'s working days; Gap = required - "
        f"run-rate (negative: the current pace is enough). Per rep: over {heads}.",
    ]
    if result.by:
        notes[0] = (
            f"Required: for the {spec.dimensions[result.by].label.lower()}'s share of the target (their "
            "share of the basis result), at their own ratios (Ratio: observed → a what-if's value)."
        )
    view = PlanView(title, styles, links, notes, result.by)

    send_view(
        dest,
        result.frame,
        markdown=lambda out: write_plan_markdown(result.frame, out, view),
        terminal=lambda console: write_plan_table(result.frame, console, view),
    )


@app.command()
@output_options
def coach(
    rep: Annotated[
        str | None,
        typer.Argument(help="The rep to coach (omit with --all).", metavar="[REP]", show_default=False),
    ] = None,
    catalog: CatalogOption = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            help="The period to review (default: the latest quarter with data).",
            metavar="PERIOD",
            show_default=False,
        ),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Rank every rep by the result, each with their biggest lever.")
    ] = False,
    result: Annotated[
        str | None,
        typer.Option(
            "--result",
            help="The result metric reps are ranked by and gaps are valued in (default: the first "
            "result metric that is a sum, e.g. won_revenue).",
            metavar="METRIC",
            show_default=False,
        ),
    ] = None,
    min_sample: Annotated[
        int | None,
        typer.Option(
            "--min-sample",
            help="Rank a rate only over this many observations or more (default: planning.min_sample, "
            "else 10); below it the rate shows its Wilson 95% interval.",
            min=1,
            metavar="N",
            show_default=False,
        ),
    ] = None,
    as_of: AsOfOption = None,
    *,
    dest: Destination,
) -> None:
    """A one-page scorecard of a rep against the team, for a one-to-one.

    Every metric and funnel step with the team median, the rep's percentile (the share of the
    team the rep does better than) and the top quartile's median; strengths (75% or more) and
    weaknesses (25% or less); the biggest gaps turned into result ("if your Demo → Proposal
    matched the team median: ~6 more won deals ≈ $140k"); the activities of the top quartile
    next to the rep's; and an improvement plan of up to three measurable targets for the next
    period. A rate over too few deals shows its Wilson interval instead of a rank. --all ranks
    every rep and names each one's biggest lever.

    \b
    Examples:
      salescode coach "Derek Lawson" --period 2025 --format markdown > derek.md
      salescode coach --all --period 2025-Q4
      salescode coach "Gary Pruitt" --period 2025 --format csv
    """
    from salescode.coach import build_scorecard, levers, ranking
    from salescode.errors import SalescodeError

    with user_errors():
        if show_all == (rep is not None):
            raise SalescodeError('name one rep (salescode coach "Maya Chen") or pass --all, not both')
        spec = load_catalog_option(catalog)
        today = today_or_as_of(as_of)
        span = parse_period_option(spec, period, today) if period else None
        if span is not None and span.is_all:
            raise SalescodeError("--period all has no next period to plan for; give one, e.g. 2025")
        with progress("Comparing reps…"):
            card = build_scorecard(spec, span, result, today=today, min_sample=min_sample)
        for warning in card.warnings:
            warn(warning)
        view = _coach_view(spec, card, rep or "")
        if show_all:
            frame = ranking(card)

            from salescode.render.coaching import write_ranking_markdown, write_ranking_table

            send_view(
                dest,
                frame,
                markdown=lambda out: write_ranking_markdown(frame, out, view),
                terminal=lambda console: write_ranking_table(frame, console, view),
            )
            return
        assert rep is not None
        own, best = card.of(rep), levers(card, rep)
        label = spec.metrics[card.result.name].label

        from salescode.render.coaching import write_coach_markdown, write_coach_table

        send_view(
            dest,
            own,
            markdown=lambda out: write_coach_markdown(own, best, out, view, label),
            terminal=lambda console: write_coach_table(own, best, console, view, label),
        )


def _coach_view(spec: Catalog, card: Scorecard, rep: str) -> CoachView:
    from salescode.periods import grain_period, range_period
    from salescode.render.coaching import CoachView

    styles = {name: _style(spec, name) for name in spec.metrics}
    period = card.period
    assert period.start is not None and period.end is not None
    if period.grain is not None:
        following = grain_period(period.end, period.grain, spec.week_start)
    else:
        following = range_period(period.end, period.end + (period.end - period.start))
    if rep:
        title = f"{spec.name} — coaching {rep}, {period.label}"
    else:
        title = f"{spec.name} — reps by {card.result.label.lower()}, {period.label}"
    return CoachView(
        title=title,
        rep=rep,
        styles=styles,
        result=card.result.name,
        until=f"the end of {following.label}",
        period=period.label,
        reps=len(card.reps()),
    )
