"""salescode benchmark: salescode's report and funnel against the same KPI job written by hand in
polars, DuckDB SQL and pandas, on a large generated CRM export. Writes bench/RESULTS.md.

Usage::

    python bench/run.py                 # scale 170 (~1.1M deals), 3 runs each, writes bench/RESULTS.md
    python bench/run.py --runs 5 --data /tmp/big
    python bench/run.py --quick         # scale 2, 1 run: a smoke test (results go next to the data)
    python bench/run.py --check-only    # only the equality check (no timing)

Every command runs as its own process (wall time, median of --runs; peak RSS from
getrusage(RUSAGE_CHILDREN) in a fresh wrapper process per run). Before any timing, every
implementation's figures must equal salescode's CSV output; see bench/README.md.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
GENERATOR = REPO / "sample_data" / "generate.py"
CATALOG = REPO / "metrics.yaml"
FILES = ("deals", "activities", "stage_history", "accounts", "reps", "quotas", "territories", "surveys")
SEED = 42
DEFAULT_SCALE = 170
QUICK_SCALE = 2
TARGET_ROWS = {"deals": 1_000_000, "activities": 5_000_000, "stage_history": 4_000_000}
REL_TOL = 1e-9

# The metrics every implementation computes (definitions as in metrics.yaml; bench/README.md lists them).
SUBSET = (
    "won_revenue",
    "deals_won",
    "deals_closed",
    "win_rate",
    "avg_deal_size",
    "sales_cycle",
    "avg_discount",
    "new_opportunities",
    "pipeline_created",
    "calls_made",
    "meetings_held",
    "connect_rate",
    "activities_logged",
    "active_reps",
)
STAGES = ("Lead", "Qualified", "Demo", "Proposal", "Negotiation", "Won")
IMPLEMENTATIONS = {"polars": "polars", "duckdb": "duckdb", "pandas": "pandas"}  # name: module needed

# Runs a command with stdout/stderr to files; prints wall seconds, peak RSS (KiB) and exit code as JSON.
# A fresh wrapper per run, so RUSAGE_CHILDREN holds exactly this command's process tree.
_MEASURE = """
import json, resource, subprocess, sys, time
with open(sys.argv[1], "wb") as out, open(sys.argv[2], "wb") as err:
    start = time.perf_counter()
    code = subprocess.run(sys.argv[3:], stdout=out, stderr=err).returncode
    wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "rss_kib": rss, "rc": code}))
"""

Figures = dict[tuple[str, str], float | None]


class BenchError(Exception):
    """A problem that stops the benchmark (bad data, a failing command, unequal figures)."""


# ----------------------------------------------------------------------------- commands


def salescode(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "salescode"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "salescode"]
    return [*base, *args]


def report_args(catalog: Path, subset: bool) -> list[str]:
    metrics = [arg for name in SUBSET for arg in ("--metric", name)] if subset else []
    return salescode(
        "report", "-c", str(catalog), "--period", "all", "--by", "rep", "--format", "csv", *metrics
    )


def funnel_args(catalog: Path) -> list[str]:
    # --period all: the funnel's default is the latest month; all = every deal, as the scripts count.
    return salescode("funnel", "-c", str(catalog), "--period", "all", "--by", "rep", "--format", "csv")


def script_args(implementation: str, job: str, data: Path) -> list[str]:
    return [sys.executable, str(BENCH / f"kpi_{implementation}.py"), job, str(data)]


def available_implementations() -> list[str]:
    found = [name for name, module in IMPLEMENTATIONS.items() if importlib.util.find_spec(module)]
    for name in IMPLEMENTATIONS.keys() - set(found):
        print(
            f"note: {name} is not installed, so kpi_{name}.py is skipped "
            f"(install it: {sys.executable} -m pip install {name})",
            file=sys.stderr,
        )
    return found


@dataclass
class Run:
    wall: float
    rss_mb: float


def execute(argv: list[str], stdout: Path) -> Run:
    """Run argv as a process (output to stdout); raise with its stderr if it fails."""
    stderr = stdout.with_suffix(".stderr")
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(stdout), str(stderr), *argv],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(done.stdout)
    if measured["rc"] != 0:
        tail = stderr.read_text(errors="replace")[-2000:]
        raise BenchError(f"command failed (exit {measured['rc']}): {' '.join(argv)}\n{tail}")
    return Run(measured["wall"], measured["rss_kib"] / 1024)


# ----------------------------------------------------------------------------- data


def count_rows(path: Path) -> int:
    """Data rows of a CSV file (lines minus the header; the generator writes no quoted newlines)."""
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            lines += chunk.count(b"\n")
    return max(lines - 1, 0)


def ensure_data(directory: Path, scale: int) -> Path:
    """Generate the CRM export at `scale` into directory unless it is already there; write a copy of
    metrics.yaml next to it (paths pointing at the generated files). Returns the catalog's path."""
    marker = directory / ".bench-data"
    stamp = f"scale={scale} seed={SEED}\n"
    complete = marker.exists() and marker.read_text() == stamp
    if not (complete and all((directory / f"{name}.csv").exists() for name in FILES)):
        directory.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        print(f"generating scale {scale} into {directory} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(GENERATOR),
                "--scale",
                str(scale),
                "--seed",
                str(SEED),
                "--out",
                str(directory),
            ],
            check=True,
        )
        print(f"generated in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        marker.write_text(stamp)
    return write_catalog(CATALOG, directory)


def write_catalog(source: Path, directory: Path) -> Path:
    """A copy of the catalog in directory whose sources' `path:` values name the files there."""
    text = re.sub(
        r"^(\s+path:\s*)(\S+)",
        lambda m: m.group(1) + Path(m.group(2)).name,
        source.read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    catalog = directory / "metrics.yaml"
    catalog.write_text(text, encoding="utf-8")
    return catalog


def data_sizes(directory: Path) -> dict[str, tuple[int, float]]:
    """Rows and MB per file."""
    return {
        name: (count_rows(directory / f"{name}.csv"), (directory / f"{name}.csv").stat().st_size / 1e6)
        for name in FILES
    }


# ----------------------------------------------------------------------------- equality check


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def read_salescode_report(path: Path) -> Figures:
    with path.open(newline="", encoding="utf-8") as handle:
        return {
            (row["rep"], row["metric"]): _number(row["value"])
            for row in csv.DictReader(handle)
            if row["metric"] in SUBSET
        }


def read_salescode_funnel(path: Path) -> Figures:
    with path.open(newline="", encoding="utf-8") as handle:
        return {(row["rep"], row["stage"]): _number(row["reached"]) for row in csv.DictReader(handle)}


def read_script_output(path: Path, what: str, value: str) -> Figures:
    with path.open(newline="", encoding="utf-8") as handle:
        return {(row["rep"], row[what]): _number(row[value]) for row in csv.DictReader(handle)}


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)


def compare(what: str, expected: Figures, got: Figures) -> list[str]:
    """One line per figure that differs, is missing or is extra."""
    problems = []
    for key in sorted(expected.keys() | got.keys()):
        rep, name = key
        if key not in got:
            problems.append(f"{what}: rep {rep!r} {name}: missing (salescode {expected[key]!r})")
        elif key not in expected:
            problems.append(f"{what}: rep {rep!r} {name}: {got[key]!r}, but salescode has no such row")
        elif not _same(expected[key], got[key]):
            problems.append(f"{what}: rep {rep!r} {name}: salescode {expected[key]!r} != {got[key]!r}")
    return problems


def check_equality(
    catalog: Path, data: Path, workdir: Path, implementations: list[str] | None = None
) -> list[str]:
    """Run salescode and every implementation once over catalog/data; return the differences
    (empty: every figure of the subset, and every funnel reach, equals salescode's)."""
    implementations = available_implementations() if implementations is None else implementations
    workdir.mkdir(parents=True, exist_ok=True)
    execute(report_args(catalog, subset=True), workdir / "salescode-report.csv")
    execute(report_args(catalog, subset=False), workdir / "salescode-report-full.csv")
    execute(funnel_args(catalog), workdir / "salescode-funnel.csv")
    report = read_salescode_report(workdir / "salescode-report.csv")
    funnel = read_salescode_funnel(workdir / "salescode-funnel.csv")
    problems = []
    reps = {rep for rep, _ in report}
    if not reps or {name for _, name in report} != set(SUBSET):
        problems.append(f"salescode report: expected the {len(SUBSET)} subset metrics for some reps")
    if {stage for _, stage in funnel} != set(STAGES):
        problems.append(f"salescode funnel: expected the stages {', '.join(STAGES)}")
    full = read_salescode_report(workdir / "salescode-report-full.csv")
    problems += compare("salescode report (full catalog) vs --metric subset", report, full)
    for name in implementations:
        execute(script_args(name, "report", data), workdir / f"{name}-report.csv")
        execute(script_args(name, "funnel", data), workdir / f"{name}-funnel.csv")
        problems += compare(
            f"kpi_{name}.py report",
            report,
            read_script_output(workdir / f"{name}-report.csv", "metric", "value"),
        )
        problems += compare(
            f"kpi_{name}.py funnel",
            funnel,
            read_script_output(workdir / f"{name}-funnel.csv", "stage", "reached"),
        )
    return problems


# ----------------------------------------------------------------------------- timing


@dataclass
class Job:
    key: str
    label: str
    argv: list[str]
    runs: list[Run] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def rss(self) -> float:
        return max(r.rss_mb for r in self.runs)


def time_jobs(jobs: list[Job], runs: int, workdir: Path) -> None:
    """Run every job `runs` times, round-robin (so drift hits all alike)."""
    for round_ in range(1, runs + 1):
        for job in jobs:
            job.runs.append(execute(job.argv, workdir / f"{job.key}.out"))
            print(
                f"  run {round_}/{runs} {job.label}: {job.runs[-1].wall:.2f} s, {job.runs[-1].rss_mb:.0f} MB",
                file=sys.stderr,
                flush=True,
            )


def main_jobs(catalog: Path, data: Path, implementations: list[str]) -> list[Job]:
    jobs = [
        Job(
            "sc-report-subset", "salescode report --period all --by rep (subset)", report_args(catalog, True)
        ),
        Job(
            "sc-report-full",
            "salescode report --period all --by rep (full catalog)",
            report_args(catalog, False),
        ),
    ]
    jobs += [
        Job(f"{i}-report", f"kpi_{i}.py report", script_args(i, "report", data)) for i in implementations
    ]
    jobs.append(Job("sc-funnel", "salescode funnel --period all --by rep", funnel_args(catalog)))
    jobs += [
        Job(f"{i}-funnel", f"kpi_{i}.py funnel", script_args(i, "funnel", data)) for i in implementations
    ]
    jobs += [
        Job(
            "sc-report-default",
            "salescode report (default period)",
            salescode("report", "-c", str(catalog), "--format", "csv"),
        ),
        Job("sc-help", "salescode --help", salescode("--help")),
        Job(
            "sc-metrics",
            "salescode metrics --format csv",
            salescode("metrics", "-c", str(catalog), "--format", "csv"),
        ),
    ]
    return jobs


def scaling_jobs(catalog: Path, data: Path) -> list[Job]:
    return [
        Job("small-sc-report-subset", "salescode report --by rep (subset)", report_args(catalog, True)),
        Job("small-sc-report-full", "salescode report --by rep (full catalog)", report_args(catalog, False)),
        Job("small-polars-report", "kpi_polars.py report", script_args("polars", "report", data)),
    ]


# ----------------------------------------------------------------------------- RESULTS.md


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _ram_gib() -> float:
    if importlib.util.find_spec("psutil"):
        import psutil

        return psutil.virtual_memory().total / 2**30
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


@dataclass
class Target:
    text: str
    measured: str
    met: bool | None  # None: not measured


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×"


def targets(
    jobs: dict[str, Job], scaling: dict[str, tuple[Job, Job]] | None, rows_ratio: float
) -> list[Target]:
    found: list[Target] = []
    subset, polars = jobs["sc-report-subset"], jobs["polars-report"]
    found.append(
        Target(
            "report --by rep within 1.3× hand-written polars (subset, apples to apples)",
            f"{subset.median:.2f} s vs {polars.median:.2f} s = {_ratio(subset.median, polars.median)}",
            subset.median <= 1.3 * polars.median,
        )
    )
    for other in ("duckdb", "pandas"):
        job = jobs.get(f"{other}-report")
        found.append(
            Target(
                f"report --by rep faster than {other} (subset)",
                f"{subset.median:.2f} s vs {job.median:.2f} s" if job else f"{other} not installed",
                subset.median < job.median if job else None,
            )
        )
    full = jobs["sc-report-full"]
    found.append(
        Target(
            "report --by rep with the full catalog within 1.3× hand-written polars (subset; informative)",
            f"{full.median:.2f} s vs {polars.median:.2f} s = {_ratio(full.median, polars.median)}",
            full.median <= 1.3 * polars.median,
        )
    )
    funnel, polars_funnel = jobs["sc-funnel"], jobs["polars-funnel"]
    found.append(
        Target(
            "funnel --by rep within 1.5× hand-written polars",
            f"{funnel.median:.2f} s vs {polars_funnel.median:.2f} s = "
            f"{_ratio(funnel.median, polars_funnel.median)}",
            funnel.median <= 1.5 * polars_funnel.median,
        )
    )
    for key, text in (("sc-help", "--help under 0.3 s"), ("sc-metrics", "metrics under 0.3 s")):
        found.append(Target(text, f"{jobs[key].median:.3f} s", jobs[key].median < 0.3))
    for key, base, text in (
        ("sc-report-subset", "polars-report", "peak RSS of report (subset) at most 2× hand-written polars"),
        (
            "sc-report-full",
            "polars-report",
            "peak RSS of report (full catalog) at most 2× hand-written polars",
        ),
        ("sc-funnel", "polars-funnel", "peak RSS of funnel at most 2× hand-written polars"),
    ):
        a, b = jobs[key].rss, jobs[base].rss
        found.append(Target(text, f"{a:.0f} MB vs {b:.0f} MB = {_ratio(a, b)}", a <= 2 * b))
    if scaling is None:
        found.append(Target("scaling: 10× data takes at most ~10× the time", "not measured (--quick)", None))
    else:
        for key, text in (("subset", "report (subset)"), ("full", "report (full catalog)")):
            big, small = scaling[key]
            found.append(
                Target(
                    f"scaling: {text} on {rows_ratio:.1f}× the rows takes at most that many times as long",
                    f"{small.median:.2f} s → {big.median:.2f} s = {_ratio(big.median, small.median)}",
                    big.median <= rows_ratio * small.median,
                )
            )
    return found


def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else "**met**" if met else "**NOT met**"


def render(
    *,
    scale: int,
    runs: int,
    data: Path,
    sizes: dict[str, tuple[int, float]],
    jobs: list[Job],
    scaling: dict[str, tuple[Job, Job]] | None,
    small_scale: int,
    small_sizes: dict[str, tuple[int, float]] | None,
    check_summary: str,
) -> str:
    by_key = {job.key: job for job in jobs}
    rows_ratio = 0.0
    if small_sizes:
        big_rows = sum(sizes[n][0] for n in ("deals", "activities", "stage_history"))
        rows_ratio = big_rows / sum(small_sizes[n][0] for n in ("deals", "activities", "stage_history"))
    dirty = _git("status", "--porcelain", "--", "salescode", "metrics.yaml")
    lines = [
        "# salescode benchmark results",
        "",
        f"Written by `python bench/run.py` on {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; "
        "see [README.md](README.md) for what is measured and how.",
        "",
        "## Machine and software",
        "",
        f"- CPU: {_cpu_model()}, {os.cpu_count()} cores; RAM {_ram_gib():.1f} GiB; {platform.platform()}",
        f"- Python {platform.python_version()}; polars {_version('polars')}, duckdb {_version('duckdb')}, "
        f"pandas {_version('pandas')} (pyarrow {_version('pyarrow')}), psutil {_version('psutil')}",
        f"- salescode {_version('salescode')} at commit {_git('rev-parse', '--short', 'HEAD') or '?'}"
        + (" (salescode/ or metrics.yaml had uncommitted changes)" if dirty else ""),
        "",
        "## Data",
        "",
        f"`sample_data/generate.py --scale {scale} --seed {SEED}` in `{data}`, with a copy of metrics.yaml "
        "(paths adjusted).",
        "",
        "| file | rows | MB |",
        "|---|---:|---:|",
        *(f"| {name}.csv | {rows:,} | {mb:,.1f} |" for name, (rows, mb) in sizes.items()),
        "",
        f"Equality check (before timing): {check_summary}",
        "",
        f"## Timings (median of {runs} run(s), wall time of the whole process; peak RSS = max over runs)",
        "",
        "Ratios are to the hand-written polars script doing the same job (report or funnel).",
        "",
        "| command | median s | min–max s | × polars | peak RSS MB | RSS × polars |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for job in jobs:
        base = by_key.get("polars-funnel" if "funnel" in job.key else "polars-report")
        comparable = (
            base is not None and ("report" in job.key or "funnel" in job.key) and "default" not in job.key
        )
        walls = [r.wall for r in job.runs]
        lines.append(
            f"| `{job.label}` | {job.median:.3f} | {min(walls):.3f}–{max(walls):.3f} | "
            + (f"{job.median / base.median:.2f}" if comparable and base else "")
            + f" | {job.rss:.0f} | "
            + (f"{job.rss / base.rss:.2f}" if comparable and base else "")
            + " |"
        )
    if scaling and small_sizes:
        lines += [
            "",
            f"## Scaling (scale {small_scale} vs {scale}: "
            f"{rows_ratio:.1f}× the deal, activity and history rows)",
            "",
            "| command | median s, small | median s, large | time ratio |",
            "|---|---:|---:|---:|",
        ]
        for key, (big, small) in scaling.items():
            lines.append(
                f"| `{big.label}` ({key}) | {small.median:.3f} | {big.median:.3f} | "
                f"{big.median / small.median:.2f} |"
            )
    lines += [
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        *(f"| {t.text} | {t.measured} | {_verdict(t.met)} |" for t in targets(by_key, scaling, rows_ratio)),
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def run_check(catalog: Path, data: Path, workdir: Path, implementations: list[str]) -> str:
    print("equality check ...", file=sys.stderr, flush=True)
    problems = check_equality(catalog, data, workdir, implementations)
    if problems:
        shown = "\n  ".join(problems[:30])
        more = f"\n  ... and {len(problems) - 30} more" if len(problems) > 30 else ""
        raise BenchError(f"equality check failed ({len(problems)} difference(s)):\n  {shown}{more}")
    figures = read_salescode_report(workdir / "salescode-report.csv")
    reps = len({rep for rep, _ in figures})
    summary = (
        f"{len(SUBSET)} metrics × {reps:,} reps and {len(STAGES)} funnel stages × reps from "
        f"{', '.join(f'kpi_{i}.py' for i in implementations)} (and the full-catalog report) all equal "
        f"salescode's CSV (floats to {REL_TOL:g} relative)."
    )
    print(summary, file=sys.stderr, flush=True)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=int, help=f"generator scale (default {DEFAULT_SCALE}; --quick: {QUICK_SCALE})"
    )
    parser.add_argument("--runs", type=int, help="timed runs per command (default 3; --quick: 1)")
    parser.add_argument("--data", type=Path, help="data folder (default /tmp/salescode-bench/scale-N)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny scale, one run, no scaling run: a smoke test"
    )
    parser.add_argument("--check-only", action="store_true", help="only the equality check, no timing")
    parser.add_argument(
        "--results", type=Path, help="where to write (default bench/RESULTS.md; --quick: DATA)"
    )
    args = parser.parse_args(argv)
    scale = args.scale or (QUICK_SCALE if args.quick else DEFAULT_SCALE)
    runs = args.runs or (1 if args.quick else 3)
    if scale < 1 or runs < 1:
        parser.error("--scale and --runs must be >= 1")
    data = (args.data or Path(f"/tmp/salescode-bench/scale-{scale}")).resolve()
    if data.is_relative_to(REPO):
        parser.error(f"--data {data}: keep the generated data out of the repository (use /tmp)")
    results = args.results or (data / "RESULTS.md" if args.quick else BENCH / "RESULTS.md")
    implementations = available_implementations()
    try:
        catalog = ensure_data(data, scale)
        sizes = data_sizes(data)
        short = [f"{n} ({sizes[n][0]:,} < {want:,})" for n, want in TARGET_ROWS.items() if sizes[n][0] < want]
        if short and not args.quick:
            print(f"warning: fewer rows than the benchmark targets: {', '.join(short)}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="salescode-bench-") as tmp:
            workdir = Path(tmp)
            summary = run_check(catalog, data, workdir / "check", implementations)
            if args.check_only:
                return
            if "polars" not in implementations:
                raise BenchError("polars is needed for the baseline")
            jobs = main_jobs(catalog, data, implementations)
            print(
                f"timing {len(jobs)} commands × {runs} run(s) at scale {scale} ...",
                file=sys.stderr,
                flush=True,
            )
            time_jobs(jobs, runs, workdir)
            scaling, small_sizes, small_scale = None, None, max(scale // 10, 1)
            if not args.quick and small_scale < scale:
                small_data = data.parent / f"scale-{small_scale}"
                small_catalog = ensure_data(small_data, small_scale)
                small_sizes = data_sizes(small_data)
                small = scaling_jobs(small_catalog, small_data)
                print(f"timing the scaling run at scale {small_scale} ...", file=sys.stderr, flush=True)
                time_jobs(small, runs, workdir)
                by_key = {job.key: job for job in jobs}
                scaling = {
                    "subset": (by_key["sc-report-subset"], small[0]),
                    "full": (by_key["sc-report-full"], small[1]),
                    "hand-written polars": (by_key["polars-report"], small[2]),
                }
        text = render(
            scale=scale,
            runs=runs,
            data=data,
            sizes=sizes,
            jobs=jobs,
            scaling=scaling,
            small_scale=small_scale,
            small_sizes=small_sizes,
            check_summary=summary,
        )
    except BenchError as exc:
        sys.exit(f"benchmark stopped: {exc}")
    results.write_text(text, encoding="utf-8")
    print(f"wrote {results}", file=sys.stderr)
    if shutil.get_terminal_size().columns and sys.stdout.isatty():
        print(text)


if __name__ == "__main__":
    main()
