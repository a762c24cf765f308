"""`salescode init`: a starter catalog for a folder of CRM export files.

It reads each file's header and a sample (as any source is read: encoding, separator and types
detected), recognises the CRM from file names and headers (salescode/presets), gives each file a
role (deals, users, accounts, stage history, activities), maps headers to canonical columns, orders
the funnel stages found in the data, and writes the standard metrics the columns support, saying
which it could not create and which column would enable them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from salescode.catalog import Source
from salescode.errors import SalescodeError
from salescode.presets import Preset, Role, load_presets
from salescode.sources import EXCEL_SUFFIXES, Layout, inspect_source, scan_source

DATA_SUFFIXES = (".csv", ".tsv", ".txt", *EXCEL_SUFFIXES)
# Canonical column names of the deals' fields in the catalog.
DEAL_COLUMNS = {
    "id": "deal_id",
    "name": "deal_name",
    "stage": "stage",
    "amount": "amount",
    "currency": "currency",
    "created": "created_date",
    "closed": "close_date",
    "owner": "rep",
    "account": "account",
    "status": "status",
    "is_won": "is_won",
    "is_closed": "is_closed",
    "lost_reason": "lost_reason",
    "source": "lead_source",
    "stage_changed": "stage_changed",
    "probability": "probability",
}
ROLE_ORDER = ("deals", "users", "accounts", "history", "activities")


@dataclass
class ExportFile:
    path: Path
    layout: Layout

    @property
    def headers(self) -> list[str]:
        return list(self.layout.headers)

    def is_key(self, header: str) -> bool:
        """True when the column has a value on every row and no value twice (the whole file)."""
        column = pl.col(self.layout.names[header])
        found = (
            scan_source(self.layout)
            .select(column.is_null().any().alias("empty"), column.is_duplicated().any().alias("repeated"))
            .collect()
        )
        return not any(found.row(0))


@dataclass
class Starter:
    """The catalog text and what init tells the user about it."""

    text: str
    crm: Preset
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # standard metrics not created, and why


def read_folder(folder: Path, notes: list[str]) -> list[ExportFile]:
    """Every data file of the folder, inspected; an unreadable one is left out with a note."""
    if not folder.is_dir():
        raise SalescodeError(f"{folder}: no such folder; name the folder that holds the export files")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)
    found = []
    for path in paths:
        try:
            found.append(ExportFile(path, inspect_source(Source(name=path.stem, path=path))))
        except SalescodeError as exc:
            notes.append(f"left out {path.name}: {exc}")
    if not found:
        raise SalescodeError(
            f"{folder}: no readable export files (.csv, .tsv, .txt, .xlsx); point init at the export's folder"
        )
    return found


def choose_crm(files: list[ExportFile], presets: dict[str, Preset], crm: str | None) -> tuple[Preset, str]:
    """The preset named by --crm, or the one whose file names and headers match best."""
    if crm is not None:
        if crm not in presets:
            raise SalescodeError(f"--crm {crm}: no such preset (one of {', '.join(sorted(presets))})")
        return presets[crm], f"--crm {crm}"
    by_file = {f.path.name: f.headers for f in files}
    scores = {name: preset.score(by_file) for name, preset in presets.items() if name != "generic"}
    best = max(scores, key=lambda name: scores[name], default="generic")
    ranked = sorted(scores.values(), reverse=True)
    if not scores or scores[best] == 0 or (len(ranked) > 1 and ranked[0] == ranked[1]):
        return presets["generic"], "no CRM's file names or headers matched: generic"
    return presets[best], f"recognised from file names and headers (score {scores[best]})"


def _assign(
    role: Role, files: list[ExportFile], taken: set[Path], needed: tuple[str, ...]
) -> tuple[ExportFile, dict[str, str]] | None:
    """The file for a role: among files whose name fits the role (earlier patterns first), the one
    whose headers resolve the most fields; it must resolve every `needed` field."""
    candidates = []
    for file in files:
        if file.path in taken:
            continue
        rank = role.takes(file.path.name)
        fields = role.resolve(file.headers)
        if rank is not None and all(name in fields for name in needed):
            candidates.append((rank, -len(fields), file.path.name, file, fields))
    if not candidates:
        return None
    _, _, _, file, fields = min(candidates, key=lambda c: c[:3])
    return file, fields


def build_starter(folder: Path, crm: str | None = None, catalog_dir: Path | None = None) -> Starter:
    """The starter catalog for the export files in folder; its paths are relative to catalog_dir
    (default: the folder itself), where the catalog will be written."""
    skipped: list[str] = []
    files = read_folder(folder, skipped)
    presets = load_presets()
    preset, why = choose_crm(files, presets, crm)
    notes = [f"CRM: {preset.label} ({why})", *skipped]
    deals_role = preset.roles["deals"]
    deals = _assign(deals_role, files, set(), ("stage",)) or _assign(
        Role(("*",), deals_role.fields), files, set(), ("stage",)
    )
    roles: dict[str, tuple[ExportFile, dict[str, str]]] = {"deals": deals} if deals else {}
    if deals is None:
        roles = _leads_and_wins(preset, files, notes)
    if not roles:
        raise SalescodeError(
            f"{folder}: no file has a deal stage column "
            f"({', '.join(deals_role.fields.get('stage', ())[:4])}, …), nor is there a file of won leads "
            "keyed by a leads file's id; init needs the deals export"
        )
    taken = {file.path for file, _ in roles.values()}
    for role_name, needed in (
        ("users", ("id", "name")),
        ("accounts", ("id",)),
        ("history", ("deal", "stage", "entered")),
        ("activities", ("owner", "date")),
        ("rates", ("code", "rate")),
    ):
        role = preset.roles.get(role_name)
        if role is None:
            continue
        found = _assign(role, files, taken, needed)
        if found is not None:
            roles[role_name] = found
            taken.add(found[0].path)
    for name, (file, fields) in roles.items():
        notes.append(f"{name}: {file.path.name} ({', '.join(f'{k}={v}' for k, v in fields.items())})")
    left = [f.path.name for f in files if f.path not in taken]
    if left:
        notes.append(f"not used: {', '.join(left)}")
    return _Writer(preset, roles, notes, catalog_dir or folder).write()


def _leads_and_wins(
    preset: Preset, files: list[ExportFile], notes: list[str]
) -> dict[str, tuple[ExportFile, dict[str, str]]]:
    """Without a stage column: a file of won leads (one row each, keyed by a lead id, with a won
    date) and the leads file holding those ids, as Olist's MQLs and closed deals (empty if none)."""
    leads_role, won_role = preset.roles.get("leads"), preset.roles.get("won")
    if leads_role is None or won_role is None:
        return {}
    won = _assign(won_role, files, set(), ("deal", "closed"))
    leads = won and _assign(leads_role, files, {won[0].path}, ("id",))
    if not won or not leads:
        return {}
    (won_file, won_fields), (leads_file, leads_fields) = won, leads
    won_ids = pl.col(won_file.layout.names[won_fields["deal"]]).cast(pl.String)
    lead_ids = pl.col(leads_file.layout.names[leads_fields["id"]]).cast(pl.String)
    found = (
        scan_source(won_file.layout)
        .select(won_ids.alias("__id"))
        .join(
            scan_source(leads_file.layout).select(lead_ids.alias("__id")),
            on="__id",
            how="left",
            coalesce=False,
        )
        .select(pl.len().alias("won"), pl.col("__id_right").is_not_null().sum().alias("matched"))
        .collect()
        .row(0, named=True)
    )
    if not found["matched"]:
        return {}
    notes.append(
        f"no deal stage column: leads of {leads_file.path.name} are won when {won_file.path.name} has "
        f"them ({found['matched']} of its {found['won']} rows match a lead); the funnel is Lead → Won"
    )
    return {"deals": leads, "won": won}


@dataclass
class _Writer:
    """Turns the roles found into catalog text: sources, dimensions, metrics, funnel."""

    preset: Preset
    roles: dict[str, tuple[ExportFile, dict[str, str]]]
    notes: list[str]
    catalog_dir: Path  # the catalog's paths are relative to it
    lines: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    with_history: bool = False
    won: dict[str, str] = field(default_factory=dict)  # columns of the won leads' file, if any
    currency: str | None = None  # the currency amounts are converted into, with a rates file

    def write(self) -> Starter:
        deals_file, fields = self.roles["deals"]
        columns = self._deal_columns(deals_file, fields)
        key = (
            columns.get("deal_id") if "deal_id" in columns and deals_file.is_key(columns["deal_id"]) else None
        )
        if "deal_id" in columns and key is None:
            self.notes.append(
                f"deals: {columns['deal_id']} repeats or has empty values, so it is not declared as the key"
            )
        self.won = self._won_columns(columns)
        available = {**self.won, **columns}  # the deals source's columns after its joins
        stages = (
            self._stages(deals_file, columns)
            if "stage" in columns
            else Stages(["Lead"], [], [], {}, won_filter="close_date IS NOT NULL")
        )
        users = self._users(columns)
        self.currency = self._currency(columns)
        self._header()
        self._deals_source(deals_file, columns, key, users)
        self._other_sources(users, key)
        self._dimensions(available)
        self._metrics(available, stages)
        self._funnel(available, stages, key)
        return Starter("\n".join(self.lines) + "\n", self.preset, self.notes, self.missing)

    # -- columns and stages ------------------------------------------------------------------------

    def _deal_columns(self, file: ExportFile, fields: dict[str, str]) -> dict[str, str]:
        """canonical name -> header, avoiding names the file already uses for other columns, and
        leaving out columns without a single value."""
        headers = {h.casefold() for h in file.headers}
        filled = (
            scan_source(file.layout)
            .select(pl.col(file.layout.names[h]).is_not_null().any().alias(h) for h in fields.values())
            .collect()
            .row(0, named=True)
        )
        empty = [f"{name} ({header})" for name, header in fields.items() if not filled[header]]
        if empty:
            self.notes.append(f"deals: columns without a value, not used: {', '.join(empty)}")
        columns = {}
        for field_name, header in fields.items():
            if not filled[header]:
                continue
            canonical = DEAL_COLUMNS.get(field_name, field_name)
            if field_name == "owner" and _looks_like_id(header) and "users" in self.roles:
                canonical = "owner_id"
            if canonical.casefold() in headers and canonical.casefold() != header.casefold():
                canonical = f"{canonical}_{field_name}"
            columns[canonical] = header
        return columns

    def _won_columns(self, columns: dict[str, str]) -> dict[str, str]:
        """canonical name -> header of the won leads' file, for the columns the leads lack (and
        the id that joins them); empty without such a file."""
        if "won" not in self.roles:
            return {}
        if "deal_id" not in columns:
            raise SalescodeError(
                f"{self.roles['deals'][0].path.name}: the leads' id column has no value; "
                f"init cannot join {self.roles['won'][0].path.name} to it"
            )
        names = {"deal": "deal_id", "closed": "close_date", "owner": "rep", "amount": "amount"}
        _, fields = self.roles["won"]
        return {
            names[f]: header
            for f, header in fields.items()
            if f in names and (names[f] == "deal_id" or names[f] not in columns)
        }

    def _stages(self, file: ExportFile, columns: dict[str, str]) -> Stages:
        stage = file.layout.names[columns["stage"]]
        counts = (
            scan_source(file.layout)
            .group_by(stage)
            .len()
            .drop_nulls(stage)
            .sort("len", descending=True)
            .collect()
        )
        values = [str(v) for v in counts[stage].to_list()]  # most deals first
        won = _present(self.preset.won, values)
        lost = _present(self.preset.lost, values)
        known = _present(self.preset.order, values)
        open_stages = [v for v in known if v not in won]
        custom = [v for v in values if v not in known and v not in won and v not in lost]
        parked = self._closed_elsewhere(file, columns, custom)
        if parked:
            custom = [v for v in custom if v not in parked]
            self.notes.append(
                f"stages whose deals are all closed but neither won nor lost, left out of the funnel: "
                f"{', '.join(parked)}"
            )
        if custom:
            order = self._history_order(custom) or self._probability_order(file, columns)
            open_stages = _merge(open_stages, custom, order)
            how = (
                ("from the stage history" if "history" in self.roles else "by their deals' probability")
                if order
                else "by number of deals, as there is no stage history: put them in your pipeline's order"
            )
            self.notes.append(
                f"stages not in the {self.preset.label} preset, ordered {how}: {', '.join(custom)}"
            )
        status = {}
        if "status" in columns:
            status_column = file.layout.names[columns["status"]]
            found = scan_source(file.layout).select(pl.col(status_column).cast(pl.String).unique()).collect()
            present = [str(v) for v in found.to_series().drop_nulls().to_list()]
            status = {k: _present(v, present) for k, v in self.preset.status.items()}
        return Stages(open_stages, won, lost, status, parked)

    def _closed_elsewhere(self, file: ExportFile, columns: dict[str, str], custom: list[str]) -> list[str]:
        """Custom stage values whose deals are all closed (postponed, archived): not funnel steps."""
        if "is_closed" not in columns or not custom:
            return []
        stage, closed = (file.layout.names[columns[c]] for c in ("stage", "is_closed"))
        truth = [t.casefold() for t in ("1", "true", "y", "yes", "да", "t")]
        found = (
            scan_source(file.layout)
            .filter(pl.col(stage).cast(pl.String).is_in(custom))
            .group_by(pl.col(stage).cast(pl.String).alias("__stage"))
            .agg(pl.col(closed).cast(pl.String).str.to_lowercase().is_in(truth).all().alias("__closed"))
            .filter("__closed")
            .collect()
        )
        return sorted(found["__stage"].to_list())

    def _history_order(self, custom: list[str]) -> dict[str, float]:
        """Each stage value's rank from the stage history: for every deal and pair of stages it
        entered, which came first; a stage entered before most others ranks early (empty without
        a history)."""
        if "history" not in self.roles:
            return {}
        file, fields = self.roles["history"]
        names = file.layout.names
        deal, stage, entered = (names[fields[f]] for f in ("deal", "stage", "entered"))
        first = (
            scan_source(file.layout)
            .group_by(deal, pl.col(stage).cast(pl.String).alias("__stage"))
            .agg(pl.col(entered).min().alias("__at"))
        )
        pairs = first.join(first, on=deal, suffix="_other").filter(
            pl.col("__stage") != pl.col("__stage_other")
        )
        ranks = (
            pairs.group_by("__stage")
            .agg((pl.col("__at") < pl.col("__at_other")).mean().alias("__first"))
            .collect()
        )
        return dict(zip(ranks["__stage"].to_list(), (-ranks["__first"]).to_list(), strict=True))

    def _probability_order(self, file: ExportFile, columns: dict[str, str]) -> dict[str, float]:
        """Each stage value's median deal probability: CRMs raise it stage by stage."""
        if "probability" not in columns:
            return {}
        stage, probability = (file.layout.names[columns[c]] for c in ("stage", "probability"))
        if file.layout.types[probability].value not in ("number", "integer"):
            return {}
        found = (
            scan_source(file.layout)
            .group_by(pl.col(stage).cast(pl.String).alias("__stage"))
            .agg(pl.col(probability).cast(pl.Float64).median().alias("__p"))
            .drop_nulls("__p")
            .collect()
        )
        return dict(zip(found["__stage"].to_list(), found["__p"].to_list(), strict=True))

    def _currency(self, columns: dict[str, str]) -> str | None:
        """With a currency column and a rates file: the currency whose rate is 1 (the corporate
        one), which amounts are converted into; None (and a note) when there is no such file."""
        if "currency" not in columns:
            return None
        if "rates" not in self.roles:
            self.notes.append(
                "deals have a currency column but there is no rates file: amounts in several currencies "
                "are summed as they are; add sources.deals.currency with rates (see README, multi-currency)"
            )
            return None
        file, fields = self.roles["rates"]
        names = file.layout.names
        code, rate = pl.col(names[fields["code"]]).cast(pl.String), pl.col(names[fields["rate"]])
        base = rate.cast(pl.Float64, strict=False) == 1
        if "corporate" in fields:
            flag = pl.col(names[fields["corporate"]]).cast(pl.String).str.to_lowercase()
            base = flag.is_in(["1", "true", "yes", "y"])
        found = scan_source(file.layout).filter(base).select(code.str.strip_chars()).collect().to_series()
        if found.len() != 1:
            self.notes.append(
                f"rates: {file.path.name} has {found.len()} base currencies (corporate, or at rate 1), not "
                "one; amounts are not converted (set sources.deals.currency by hand, see README)"
            )
            return None
        self.notes.append(f"amounts are converted into {found[0]} with the rates of {file.path.name}")
        return str(found[0]).upper()

    def _users(self, columns: dict[str, str]) -> tuple[ExportFile, dict[str, str]] | None:
        if "owner_id" not in columns or "users" not in self.roles:
            return None
        file, fields = self.roles["users"]
        if not file.is_key(fields["id"]):
            self.notes.append(f"users: {fields['id']} in {file.path.name} repeats; reps stay ids")
            return None
        return file, fields

    # -- text ----------------------------------------------------------------------------------------

    def _header(self) -> None:
        self.lines += [
            f"# Starter catalog written by `salescode init` for a {self.preset.label} export.",
            "# Check the stage order of the funnel and the metrics, add targets, then run:",
            "#   salescode validate && salescode report && salescode funnel",
            "version: 1",
            f"name: {_q(self.preset.label + ' export')}",
            *([f"currency: {_q(self.currency)}"] if self.currency else []),
            "",
            "sources:",
        ]

    def _source(self, name: str, file: ExportFile, columns: dict[str, str], extra: list[str]) -> None:
        layout = file.layout
        path = Path(os.path.relpath(file.path.absolute(), self.catalog_dir.absolute())).as_posix()
        self.lines += [f"  {name}:", f"    path: {_q(path)}"]
        if layout.encoding_detected and layout.encoding not in ("utf-8", "utf-8-sig"):
            self.lines.append(f"    encoding: {_q(layout.encoding)}")
        if layout.separator != "," and file.path.suffix.lower() not in EXCEL_SUFFIXES:
            self.lines.append(f"    separator: {_q(layout.separator)}")
        self.lines += extra
        renamed = {canonical: header for canonical, header in columns.items() if canonical != header}
        if renamed:
            self.lines.append("    columns:")
            self.lines += [f"      {canonical}: {_q(header)}" for canonical, header in renamed.items()]

    def _deals_source(
        self,
        file: ExportFile,
        columns: dict[str, str],
        key: str | None,
        users: tuple[ExportFile, dict[str, str]] | None,
    ) -> None:
        extra = []
        if key:
            extra.append("    key: deal_id")
        if "close_date" in columns or "close_date" in self.won:
            extra.append("    time: close_date")
        types = self._types(
            file,
            columns,
            {"amount": "number", "probability": "number", "is_won": "bool", "is_closed": "bool"},
        )
        extra += _types_line(types)
        if self.currency:
            extra.append("    currency: {column: currency, source: currency_rates}")
        joins = []
        if users:
            joins += ["      - source: users", "        on: {owner_id: user_id}", "        columns: [rep]"]
        if self.won:
            brought = [c for c in self.won if c != "deal_id"]
            joins += [
                "      - source: won",
                "        on: deal_id",
                f"        columns: [{', '.join(brought)}]",
            ]
        if joins:
            extra += ["    joins:", *joins]
        self._source("deals", file, columns, extra)

    def _types(self, file: ExportFile, columns: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
        """Types to declare: numbers and flags, when the data agrees (declared, they are strict)."""
        declared = {}
        for canonical, kind in wanted.items():
            if canonical not in columns:
                continue
            column = file.layout.names[columns[canonical]]
            inferred = file.layout.types[column].value
            if kind == "number" and inferred in ("number", "integer"):
                declared[canonical] = kind
            elif kind == "bool" and (inferred == "bool" or _flags(file, column)):
                declared[canonical] = kind
        return declared

    def _other_sources(self, users: tuple[ExportFile, dict[str, str]] | None, key: str | None) -> None:
        if self.currency:
            file, fields = self.roles["rates"]
            self.lines.append("")
            extra = ["    key: code"] if file.is_key(fields["code"]) else []
            self._source("currency_rates", file, {"code": fields["code"], "rate": fields["rate"]}, extra)
        if "won" in self.roles:
            file, fields = self.roles["won"]
            columns = self.won
            extra = ["    key: deal_id"] if file.is_key(fields["deal"]) else []
            extra += _types_line(self._types(file, columns, {"amount": "number"}))
            self.lines.append("")
            self._source("won", file, columns, extra)
        if users:
            file, fields = users
            self.lines.append("")
            self._source(
                "users", file, {"user_id": fields["id"], "rep": fields["name"]}, ["    key: user_id"]
            )
        if "history" in self.roles and key:
            file, fields = self.roles["history"]
            self.with_history = True
            self.lines.append("")
            self._source(
                "stage_history",
                file,
                {"deal_id": fields["deal"], "stage": fields["stage"], "entered": fields["entered"]},
                [],
            )
        if "activities" in self.roles:
            file, fields = self.roles["activities"]
            owner = "owner_id" if users and _looks_like_id(fields["owner"]) else "rep"
            columns = {owner: fields["owner"], "date": fields["date"]}
            if "type" in fields:
                columns["type"] = fields["type"]
            if "account" in fields:
                columns["account"] = fields["account"]
            extra = ["    time: date"]
            if owner == "owner_id":
                extra += [
                    "    joins:",
                    "      - source: users",
                    "        on: {owner_id: user_id}",
                    "        columns: [rep]",
                ]
            self.lines.append("")
            self._source("activities", file, columns, extra)

    def _dimensions(self, columns: dict[str, str]) -> None:
        self.lines += ["", "dimensions:"]
        if "rep" in columns or "owner_id" in columns:
            self.lines.append("  rep: {label: Sales rep}")
        if "lead_source" in columns:
            self.lines.append("  lead_source: {label: Lead source}")
        if "currency" in columns:
            self.lines.append("  currency: {label: Currency}")
        if self.lines[-1] == "dimensions:":
            self.lines[-1] = "dimensions: {}"

    def _metrics(self, columns: dict[str, str], stages: Stages) -> None:
        won, lost = stages.conditions(columns)
        amount = "amount" if "amount" in columns else None
        dated = "created_date" in columns
        metric = self._metric
        self.lines += ["", "metrics:"]
        if won:
            metric("deals_won", "Deals won", "result", "financial", "count", filter=won, direction="higher")
            if lost:
                metric(
                    "deals_closed",
                    "Deals closed",
                    "result",
                    "financial",
                    "count",
                    filter=f"({won}) OR ({lost})",
                )
                self.lines += [
                    "  win_rate:",
                    "    label: Win rate",
                    "    level: result",
                    "    category: financial",
                    "    ratio: {numerator: deals_won, denominator: deals_closed}",
                    "    direction: higher",
                ]
            elif stages.won_filter:
                self.missing.append(
                    "deals_closed, win_rate: leads not won are not marked lost; "
                    "first_to_won is the Lead → Won conversion"
                )
            else:
                self.missing.append("deals_closed, win_rate: no stage or status value means lost")
            if amount:
                metric(
                    "won_revenue",
                    "Won revenue",
                    "result",
                    "financial",
                    "sum",
                    expr="amount",
                    filter=won,
                    fmt="currency",
                    direction="higher",
                )
                self.lines += [
                    "  avg_deal_size:",
                    "    label: Average won deal",
                    "    level: result",
                    "    category: financial",
                    '    derived: "won_revenue / deals_won"',
                    "    format: currency",
                ]
            else:
                self.missing.append("won_revenue, avg_deal_size: need an amount column (deals)")
        else:
            self.missing.append(
                "deals_won, won_revenue, win_rate: no stage value means won (known won stages: "
                f"{', '.join(self.preset.won[:4])}, …); name it in the funnel and the filters"
            )
        if won and dated and "close_date" in columns:
            metric(
                "sales_cycle",
                "Sales cycle",
                "objective",
                "sales_force_capability",
                "mean",
                expr="close_date - created_date",
                filter=f"({won}) OR ({lost})" if lost else won,
                fmt="days",
                direction="lower",
            )
        else:
            self.missing.append("sales_cycle: needs a won stage, a created date and a close date")
        if dated:
            metric(
                "new_opportunities",
                "New opportunities",
                "activity",
                "opportunity_management",
                "count",
                time="created_date",
                direction="higher",
            )
            if amount:
                metric(
                    "pipeline_created",
                    "Pipeline created",
                    "objective",
                    "sales_force_capability",
                    "sum",
                    expr="amount",
                    time="created_date",
                    fmt="currency",
                    direction="higher",
                )
        else:
            self.missing.append("new_opportunities, pipeline_created: need a created date (deals)")
        if won and dated and stages.funnel:
            self.lines += [
                "  first_to_won:",
                f"    label: {_q(stages.open[0] + ' → Won')}",
                "    level: objective",
                "    category: sales_force_capability",
                f"    conversion: {{funnel: pipeline, from: {_q(stages.open[0])}, to: Won, cohort: true}}",
                "    direction: higher",
            ]
        if "activities" in self.roles:
            metric(
                "activities_logged",
                "Activities logged",
                "activity",
                "call_management",
                "count",
                source="activities",
                direction="higher",
            )
            metric(
                "active_reps",
                "Active reps",
                "activity",
                "call_management",
                "count_distinct",
                source="activities",
                expr="rep",
            )
            if "account" in self.roles["activities"][1]:
                metric(
                    "accounts_touched",
                    "Accounts touched",
                    "activity",
                    "account_management",
                    "count_distinct",
                    source="activities",
                    expr="account",
                    direction="higher",
                )
        else:
            self.missing.append(
                "activities_logged, active_reps: need an activities export (calls, meetings, tasks)"
            )

    def _metric(
        self,
        name: str,
        label: str,
        level: str,
        category: str,
        agg: str,
        *,
        source: str = "deals",
        expr: str | None = None,
        filter: str | None = None,
        time: str | None = None,
        fmt: str | None = None,
        direction: str | None = None,
    ) -> None:
        self.lines += [
            f"  {name}:",
            f"    label: {_q(label)}",
            f"    level: {level}",
            f"    category: {category}",
        ]
        self.lines += [f"    source: {source}", f"    agg: {agg}"]
        for key, value in (("expr", expr), ("filter", filter), ("time", time)):
            if value:
                self.lines.append(f"    {key}: {_q(value)}")
        if fmt:
            self.lines.append(f"    format: {fmt}")
        if direction:
            self.lines.append(f"    direction: {direction}")

    def _funnel(self, columns: dict[str, str], stages: Stages, key: str | None) -> None:
        if not stages.funnel:
            self.missing.append("funnel: needs open stages and a won stage or status")
            return
        self.lines += ["", "funnels:", "  pipeline:", "    label: Pipeline", "    source: deals"]
        if stages.won_filter:
            # no stage column: every lead is at the first step, a won lead at the last
            entered = ", entered: created_date" if "created_date" in columns else ""
            lead = f'{{name: {_q(stages.open[0])}, filter: "deal_id IS NOT NULL"{entered}}}'
            won = f"{{name: Won, filter: {_q(stages.won_filter)}, entered: close_date}}"
            self.lines.append(f"    stages: [{lead}, {won}]")
            self._funnel_columns(columns)
            return
        self.lines.append("    stage: stage")
        won = (
            f"{{name: Won, match: [{', '.join(_q(v) for v in stages.won)}]}}"
            if stages.won
            else f"{{name: Won, filter: {_q(_in('status', stages.status['won']))}}}"
        )
        self.lines.append(f"    stages: [{', '.join(_q(v) for v in stages.open)}, {won}]")
        if stages.lost:
            self.lines.append(f"    lost: [{', '.join(_q(v) for v in stages.lost)}]")
        if stages.parked:
            self.lines.append(f"    exclude: [{', '.join(_q(v) for v in stages.parked)}]")
        if self.with_history:
            self.lines.append("    history: stage_history")
        self._funnel_columns(columns)

    def _funnel_columns(self, columns: dict[str, str]) -> None:
        if "created_date" in columns:
            self.lines.append("    cohort: created_date")
        if "amount" in columns:
            self.lines.append("    value: amount")
        if "stage_changed" in columns:
            self.lines.append("    stage_since: stage_changed")


@dataclass
class Stages:
    open: list[str]  # open stages, first to last
    won: list[str]  # stage values meaning won
    lost: list[str]
    status: dict[str, list[str]]  # status values (won/lost/open) present, when there is a status column
    parked: list[str] = field(default_factory=list)  # closed, neither won nor lost: out of the funnel
    won_filter: str | None = None  # without a stage column: the condition for a won lead

    @property
    def funnel(self) -> bool:
        """A funnel can be drawn: open stages, and a stage, status or condition that means won."""
        return bool(self.open and (self.won or self.status.get("won") or self.won_filter))

    def conditions(self, columns: dict[str, str]) -> tuple[str | None, str | None]:
        """SQL conditions for won and lost deals: from stages, else the status column, else flags."""
        won = _in("stage", self.won) if self.won else self.won_filter
        lost = _in("stage", self.lost) if self.lost else None
        if won is None and self.status.get("won"):
            won = _in("status", self.status["won"])
        if lost is None and self.status.get("lost"):
            lost = _in("status", self.status["lost"])
        if won is None and "is_won" in columns:
            won = "is_won"
        if lost is None and "is_closed" in columns and "is_won" in columns:
            lost = "is_closed AND NOT is_won"
        return won, lost


def _present(wanted: tuple[str, ...] | list[str], values: list[str]) -> list[str]:
    """The data's values that are in `wanted` (case-insensitively), in wanted's order."""
    by_key: dict[str, str] = {}
    for value in values:
        by_key.setdefault(value.strip().casefold(), value)
    found = [by_key[w.strip().casefold()] for w in wanted if w.strip().casefold() in by_key]
    return list(dict.fromkeys(found))


def _merge(known: list[str], custom: list[str], order: dict[str, float]) -> list[str]:
    """Known stages in the preset's (the CRM's) order; each custom stage right after the last stage
    that the data's order (history rank or probability) puts at or before it, else first; without
    an order, custom stages go last."""
    if not order:
        return known + custom
    merged = list(known)
    for stage in sorted(custom, key=lambda v: order.get(v, float("inf"))):
        value = order.get(stage, float("inf"))
        before = [i for i, other in enumerate(merged) if other in order and order[other] <= value]
        merged.insert(before[-1] + 1 if before else 0, stage)
    return merged


def _types_line(types: dict[str, str]) -> list[str]:
    return ["    types: {" + ", ".join(f"{c}: {t}" for c, t in types.items()) + "}"] if types else []


def _flags(file: ExportFile, column: str) -> bool:
    """True when every value of the column reads as true/false (1/0, Y/N, Да/Нет, ...)."""
    words = {"1", "0", "true", "false", "y", "n", "yes", "no", "да", "нет", "t", "f"}
    values = (
        scan_source(file.layout).select(pl.col(column).cast(pl.String).str.to_lowercase().unique()).collect()
    )
    present = {v for v in values.to_series().to_list() if v is not None}
    return bool(present) and present <= words


def _looks_like_id(header: str) -> bool:
    text = header.replace("_", "").replace(" ", "").casefold()
    return text.endswith("id") or text in ("assignedbyid", "responsibleid")


def _in(column: str, values: list[str]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"


def _q(text: str) -> str:
    """A YAML scalar that reads back as exactly this text (a JSON string is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)
