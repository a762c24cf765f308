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
import compileall
import csv
import importlib.metadata
import importlib.util
import io
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
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

# How salescode meets its Parquet cache of parsed CSVs: bypassed (reads the CSVs, like the scripts),
# warm (a repeated run reads the Parquet copies) or cold (a first run: parses the CSVs, writes the cache).
NO_CACHE_ENV = {"SALESCODE_NO_CACHE": "1"}
MODES = {"csv": "--no-cache (CSV)", "warm": "warm cache"}


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


def execute(argv: list[str], stdout: Path, env: dict[str, str] | None = None) -> Run:
    """Run argv as a process (output to stdout, extra environment env); raise with its stderr if it fails."""
    stderr = stdout.with_suffix(".stderr")
    stdout.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(stdout), str(stderr), *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        raise BenchError(f"cannot measure {' '.join(argv)}:\n{done.stderr[-2000:]}")
    measured = json.loads(done.stdout)
    if measured["rc"] != 0:
        tail = stderr.read_text(errors="replace")[-2000:]
        raise BenchError(f"command failed (exit {measured['rc']}): {' '.join(argv)}\n{tail}")
    return Run(measured["wall"], measured["rss_kib"] / 1024)


def snapshot_salescode(ref: str | None, target: Path) -> str:
    """Copy the salescode package (the working tree's, or as committed at git ref) into target, so a
    whole benchmark run measures one version even while the package is being edited; describe it."""
    head = _git("rev-parse", "--short", "HEAD") or "?"
    if ref:
        try:
            archive = subprocess.run(
                ["git", "archive", ref, "salescode"], cwd=REPO, capture_output=True, check=True
            ).stdout
        except subprocess.CalledProcessError as exc:
            raise BenchError(f"--salescode-ref {ref}: {exc.stderr.decode(errors='replace').strip()}") from exc
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
        return f"salescode/ as committed at {_git('rev-parse', '--short', ref)} (--salescode-ref {ref})"
    shutil.copytree(REPO / "salescode", target / "salescode", ignore=shutil.ignore_patterns("__pycache__"))
    dirty = _git("status", "--porcelain", "--", "salescode")
    return f"salescode/ from the working tree at commit {head}" + (
        " **with uncommitted changes**" if dirty else ""
    )


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
    # The runs above read salescode's Parquet cache (written by the first one); without it, the same.
    execute(report_args(catalog, subset=True), workdir / "salescode-report-csv.csv", NO_CACHE_ENV)
    csv_read = read_salescode_report(workdir / "salescode-report-csv.csv")
    problems += compare("salescode report --no-cache vs with the cache", report, csv_read)
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
    baseline: str | None = None  # the key of the job its ratios are to
    env: dict[str, str] = field(default_factory=dict)
    fresh: Path | None = None  # a folder emptied before each run (salescode's cache, for a cold run)
    runs: list[Run] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def rss(self) -> float:
        return max(r.rss_mb for r in self.runs)


def time_jobs(jobs: list[Job], runs: int, workdir: Path, warm_up: bool = False) -> None:
    """Run every job `runs` times, round-robin (so drift hits all alike); warm_up: one untimed round
    first (fills the page cache and salescode's cache)."""
    for round_ in range(0 if warm_up else 1, runs + 1):
        for job in jobs:
            if job.fresh is not None:
                shutil.rmtree(job.fresh, ignore_errors=True)
            run = execute(job.argv, workdir / f"{job.key}.out", job.env)
            if round_ == 0:
                continue
            job.runs.append(run)
            print(
                f"  run {round_}/{runs} {job.label}: {run.wall:.2f} s, {run.rss_mb:.0f} MB",
                file=sys.stderr,
                flush=True,
            )


def _salescode_jobs(
    key: str, label: str, argv: list[str], baseline: str | None, modes: tuple[str, ...] = ("csv", "warm")
) -> list[Job]:
    return [
        Job(
            f"{key}-{mode}", f"{label} [{MODES[mode]}]", argv, baseline, NO_CACHE_ENV if mode == "csv" else {}
        )
        for mode in modes
    ]


def main_jobs(catalog: Path, data: Path, implementations: list[str], workdir: Path) -> list[Job]:
    subset, full = report_args(catalog, True), report_args(catalog, False)
    cold = workdir / "cache-cold"
    jobs = _salescode_jobs("sc-report-subset", "salescode report --by rep (subset)", subset, "polars-report")
    jobs.append(
        Job(
            "sc-report-subset-cold",
            "salescode report --by rep (subset) [cold cache: first run, writes it]",
            subset,
            "polars-report",
            {"SALESCODE_CACHE_DIR": str(cold)},
            cold,
        )
    )
    jobs += _salescode_jobs(
        "sc-report-full", "salescode report --by rep (full catalog)", full, "polars-report"
    )
    jobs += [
        Job(f"{i}-report", f"kpi_{i}.py report", script_args(i, "report", data), "polars-report")
        for i in implementations
    ]
    jobs += _salescode_jobs("sc-funnel", "salescode funnel --by rep", funnel_args(catalog), "polars-funnel")
    jobs += [
        Job(f"{i}-funnel", f"kpi_{i}.py funnel", script_args(i, "funnel", data), "polars-funnel")
        for i in implementations
    ]
    default = salescode("report", "-c", str(catalog), "--format", "csv")
    jobs += _salescode_jobs("sc-report-default", "salescode report (default period)", default, None)
    jobs += [
        Job("sc-help", "salescode --help", salescode("--help")),
        Job(
            "sc-metrics",
            "salescode metrics --format csv",
            salescode("metrics", "-c", str(catalog), "--format", "csv"),
        ),
    ]
    return jobs


def scaling_jobs(catalog: Path, data: Path) -> list[Job]:
    jobs = _salescode_jobs(
        "sc-report-subset", "salescode report --by rep (subset)", report_args(catalog, True), None
    )
    jobs += _salescode_jobs(
        "sc-report-full", "salescode report --by rep (full catalog)", report_args(catalog, False), None
    )
    jobs.append(Job("polars-report", "kpi_polars.py report", script_args("polars", "report", data)))
    return jobs


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
    """Output of a read-only git command in the repository ('' when git fails)."""
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


Cell = tuple[str, bool | None]  # what was measured, and whether the target is met (None: not measured)


def _within(job: Job | None, base: Job | None, factor: float, memory: bool = False) -> Cell:
    if job is None or base is None:
        return "not measured", None
    a, b = (job.rss, base.rss) if memory else (job.median, base.median)
    unit = "MB" if memory else "s"
    shown = f"{a:.0f} {unit} vs {b:.0f} {unit}" if memory else f"{a:.2f} s vs {b:.2f} s"
    return f"{shown} = {a / b:.2f}×", a <= factor * b


def _faster(job: Job | None, other: Job | None) -> Cell:
    if job is None or other is None:
        return "not measured (not installed)", None
    return f"{job.median:.2f} s vs {other.median:.2f} s", job.median < other.median


def _under(job: Job, seconds: float) -> Cell:
    return f"{job.median:.3f} s", job.median < seconds


def targets(
    jobs: dict[str, Job], small: dict[str, Job] | None, rows_ratio: float
) -> list[tuple[str, dict[str, Cell]]]:
    """Each target of the issue, measured for salescode without and with its (warm) cache."""
    get = jobs.get
    found: list[tuple[str, dict[str, Cell]]] = []

    def add(text: str, cell: Callable[[str], Cell]) -> None:
        found.append((text, {mode: cell(mode) for mode in MODES}))

    add(
        "report --by rep (subset, apples to apples) within 1.3× hand-written polars",
        lambda m: _within(get(f"sc-report-subset-{m}"), get("polars-report"), 1.3),
    )
    for other in ("duckdb", "pandas"):
        add(
            f"report --by rep (subset) faster than {other}",
            lambda m, o=other: _faster(get(f"sc-report-subset-{m}"), get(f"{o}-report")),
        )
    add(
        "(for information) report --by rep with the full catalog within 1.3× polars doing the subset",
        lambda m: _within(get(f"sc-report-full-{m}"), get("polars-report"), 1.3),
    )
    add(
        "funnel --by rep within 1.5× hand-written polars",
        lambda m: _within(get(f"sc-funnel-{m}"), get("polars-funnel"), 1.5),
    )
    add("--help under 0.3 s", lambda m: _under(jobs["sc-help"], 0.3))
    add("metrics under 0.3 s", lambda m: _under(jobs["sc-metrics"], 0.3))
    add(
        "peak memory of report (subset) at most 2× hand-written polars",
        lambda m: _within(get(f"sc-report-subset-{m}"), get("polars-report"), 2, memory=True),
    )
    add(
        "(for information) peak memory of report (full catalog) at most 2× polars doing the subset",
        lambda m: _within(get(f"sc-report-full-{m}"), get("polars-report"), 2, memory=True),
    )
    add(
        "peak memory of funnel at most 2× hand-written polars",
        lambda m: _within(get(f"sc-funnel-{m}"), get("polars-funnel"), 2, memory=True),
    )
    for key, text in (("sc-report-subset", "report (subset)"), ("sc-report-full", "report (full catalog)")):
        if small is None:
            add(f"scaling: {text}, 10× the data in at most ~10× the time", lambda m: ("not measured", None))
            continue
        add(
            f"scaling: {text} on {rows_ratio:.1f}× the rows in at most {rows_ratio:.1f}× the time",
            lambda m, k=key: _within(jobs[f"{k}-{m}"], small[f"{k}-{m}"], rows_ratio),
        )
    return found


def _verdict(cell: Cell) -> str:
    text, met = cell
    return text if met is None else f"{text}: **{'met' if met else 'NOT met'}**"


def render(
    *,
    scale: int,
    runs: int,
    data: Path,
    code: str,
    sizes: dict[str, tuple[int, float]],
    jobs: list[Job],
    small: list[Job] | None,
    small_scale: int,
    small_sizes: dict[str, tuple[int, float]] | None,
    check_summary: str,
) -> str:
    by_key = {job.key: job for job in jobs}
    small_by_key = {job.key: job for job in small} if small else None
    rows_ratio = 0.0
    if small_sizes:
        big_rows = sum(sizes[n][0] for n in ("deals", "activities", "stage_history"))
        rows_ratio = big_rows / sum(small_sizes[n][0] for n in ("deals", "activities", "stage_history"))
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
        f"- measured: {code}",
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
        "salescode keeps a Parquet copy of each parsed CSV: `[--no-cache (CSV)]` reads the CSV files, as "
        "the scripts do; `[warm cache]` is a repeated run reading the Parquet copies (the default); "
        "`[cold cache]` is a first run, parsing the CSVs and writing the copies. "
        "Ratios are to the hand-written polars script doing the same job (report or funnel).",
        "",
        "| command | median s | min–max s | × polars | peak RSS MB | RSS × polars |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for job in jobs:
        base = by_key.get(job.baseline) if job.baseline else None
        walls = [r.wall for r in job.runs]
        lines.append(
            f"| `{job.label}` | {job.median:.3f} | {min(walls):.3f}–{max(walls):.3f} | "
            + (f"{job.median / base.median:.2f}" if base else "")
            + f" | {job.rss:.0f} | "
            + (f"{job.rss / base.rss:.2f}" if base else "")
            + " |"
        )
    if small_by_key and small_sizes:
        lines += [
            "",
            f"## Scaling (scale {small_scale} vs {scale}: "
            f"{rows_ratio:.1f}× the deal, activity and history rows)",
            "",
            "| command | median s, small | median s, large | time ratio |",
            "|---|---:|---:|---:|",
        ]
        for key, small_job in small_by_key.items():
            big = by_key[key]
            lines.append(
                f"| `{small_job.label}` | {small_job.median:.3f} | {big.median:.3f} | "
                f"{big.median / small_job.median:.2f} |"
            )
    lines += [
        "",
        "## Targets",
        "",
        f"| target | salescode {MODES['csv']} | salescode {MODES['warm']} |",
        "|---|---|---|",
        *(
            f"| {text} | {_verdict(cells['csv'])} | {_verdict(cells['warm'])} |"
            for text, cells in targets(by_key, small_by_key, rows_ratio)
        ),
    ]
    cold = by_key.get("sc-report-subset-cold")
    if cold and "polars-report" in by_key:
        lines += [
            "",
            f"A first run with an empty cache (report, subset) takes {cold.median:.2f} s, "
            f"{cold.median / by_key['polars-report'].median:.2f}× hand-written polars.",
        ]
    return "\n".join([*lines, ""])


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
        f"{', '.join(f'kpi_{i}.py' for i in implementations)} all equal salescode's CSV output "
        f"(floats to {REL_TOL:g} relative), as do salescode's full-catalog report and its --no-cache run."
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
    parser.add_argument(
        "--salescode-ref",
        metavar="REV",
        help="measure salescode/ as committed at REV (default: the working tree, copied at the start)",
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
        with tempfile.TemporaryDirectory(prefix="salescode-bench-") as tmp:
            workdir = Path(tmp)
            code = snapshot_salescode(args.salescode_ref, workdir / "code")
            # Byte-compiled once, as pip does on install: start-up is then measured as users see it,
            # even where PYTHONDONTWRITEBYTECODE keeps each process from writing its .pyc files.
            compileall.compile_dir(workdir / "code", quiet=1)
            # Every salescode process of this run imports the snapshot and keeps its cache in workdir.
            os.environ["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(workdir / "code"), os.environ.get("PYTHONPATH")) if p
            )
            os.environ["SALESCODE_CACHE_DIR"] = str(workdir / "cache")
            os.environ.pop("SALESCODE_NO_CACHE", None)
            print(f"measuring {code}", file=sys.stderr, flush=True)
            catalog = ensure_data(data, scale)
            sizes = data_sizes(data)
            short = [
                f"{n} ({sizes[n][0]:,} < {want:,})" for n, want in TARGET_ROWS.items() if sizes[n][0] < want
            ]
            if short and not args.quick:
                print(f"warning: fewer rows than the benchmark targets: {', '.join(short)}", file=sys.stderr)
            summary = run_check(catalog, data, workdir / "check", implementations)
            if args.check_only:
                return
            if "polars" not in implementations:
                raise BenchError("polars is needed for the baseline")
            jobs = main_jobs(catalog, data, implementations, workdir)
            print(
                f"timing {len(jobs)} commands × {runs} run(s) at scale {scale} ...",
                file=sys.stderr,
                flush=True,
            )
            time_jobs(jobs, runs, workdir)
            small, small_sizes, small_scale = None, None, max(scale // 10, 1)
            if not args.quick and small_scale < scale:
                small_data = data.parent / f"scale-{small_scale}"
                small_catalog = ensure_data(small_data, small_scale)
                small_sizes = data_sizes(small_data)
                small = scaling_jobs(small_catalog, small_data)
                print(f"timing the scaling run at scale {small_scale} ...", file=sys.stderr, flush=True)
                time_jobs(small, runs, workdir / "small", warm_up=True)
        text = render(
            scale=scale,
            runs=runs,
            data=data,
            code=code,
            sizes=sizes,
            jobs=jobs,
            small=small,
            small_scale=small_scale,
            small_sizes=small_sizes,
            check_summary=summary,
        )
    except BenchError as exc:
        sys.exit(f"benchmark stopped: {exc}")
    results.write_text(text, encoding="utf-8")
    print(f"wrote {results}", file=sys.stderr)


if __name__ == "__main__":
    main()
