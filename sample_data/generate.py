"""Generate the salescode sample CRM: "Acme Hardware", 2024-01-01 .. 2025-12-31.

Acme Hardware is a fictional B2B vendor selling hardware and software to businesses. The
generator simulates two calendar years of its CRM and writes eight CSV exports:

    reps.csv         sales reps: team, region, manager, role, hire/exit dates and exit reason
    accounts.csv     customers and prospects: segment, industry, region, current owner, churn
    deals.csv        opportunities: product, lead source, final/current stage, amount, discount
    stage_history    one row per stage a deal entered (Lead .. Negotiation, Won, Lost)
    activities.csv   calls, emails, meetings and demos, optionally tied to a deal
    quotas.csv       monthly quota per rep (month label and first day) for every month employed
    territories.csv  market potential and target account count per region x segment
    surveys.csv      CSAT (1-5) and NPS (0-10) responses per account

Usage::

    python sample_data/generate.py                        # committed sample, next to this file
    python sample_data/generate.py --out DIR --scale 200 --seed 7

``--scale N`` multiplies reps, accounts, deals and activities by roughly N (the four teams and
regions stay the same; the roster is repeated with a numeric suffix on the names). Output is
byte-identical for identical arguments: every draw comes from ``random.Random`` instances seeded
in a fixed order from ``--seed``, rows are streamed in a fixed order and floats have fixed
decimals. Only the standard library is used.

How the simulation works
------------------------
The simulation runs month by month (with a six-month warm-up from 2023-07 so that January 2024
starts with a realistic open pipeline; warm-up deals closed before 2024 and all warm-up
activities are dropped). Every rep prospects the accounts they own: the monthly number of
untied calls, emails and meetings follows the rep's activity level, ramp-up and seasonality.
The number of deals a rep opens in a month is proportional to the meetings held plus a share of
the connected calls of that month. Each deal then walks the funnel
Lead -> Qualified -> Demo -> Proposal -> Negotiation -> Won. At every stage the rep logs a
random number of deal-tied activities (a demo is always logged on entering Demo), and the
probability of advancing grows with the rep's skill for that step and with the number of
activities logged; otherwise the deal is lost at that stage. Support Plan and Training deals
often skip Demo, ~2% of deals step back one stage and re-enter it, a few deals go stale and stay
open forever, and deals whose next step falls after 2025-12-31 are still open at export time.
When a rep leaves, their accounts (and open deals) pass to colleagues of the same region; new
hires receive new accounts and a slice of their colleagues' books.

The story planted in the data (scale 1, seed 42 -- every roster copy at larger scales repeats it)
--------------------------------------------------------------------------------------------------
* Maya Chen (Falcons/North) is the star: busy, highest conversion at every step, low discounts.
* Derek Lawson (Falcons/North) and Ryan Mitchell (Orcas/West) are the busiest reps with the most
  meetings and deals, but their Demo -> Proposal conversion is roughly half of everyone else's.
* Victor Hale (Mustangs/South) discounts ~22% on average (others ~8%) and still does not win
  more often: his Proposal/Negotiation skill is below average and cancels the discount effect.
* Gary Pruitt (Orcas/West) logs about a third of the busiest reps' activity and wins few deals.
* Tom Becker (Lynx/East) leaves the activity outcome empty ~45% of the time (poor CRM hygiene);
  the company-wide share of empty outcomes is ~10-15%.
* Six reps leave (James O'Connor - Compensation, Laura Schmidt - Career move, Marcus Johnson -
  Manager, Benjamin Clarke - Relocation, Daniel Morgan - Performance, Megan Flores -
  Compensation, a strong performer) and seven are hired during 2024/2025 and ramp up over three
  months (lower activity and a 25/50/75% quota).
* Liam Foster, Ethan Walsh and Zoe Martin are SDRs: many calls, few meetings, SMB accounts only.
* Call connect rates vary by rep between ~25% and ~45%.
* Seasonality: August is weak, Q4 is strong (more deals opened in autumn, higher win rates at
  year end); 2025 is ~10-15% bigger than 2024 (more activity, more deals, +4% prices).
* Funnel: ~30% of closed deals are won; losses happen at every stage, more early than late.
  Referral and Partner leads win more often than Outbound; Enterprise cycles are 2-6 months,
  SMB cycles 2-6 weeks.
* Analytics Add-on is the focus product: it is sold mostly to existing customers and its share
  of new deals rises in 2025.
* Account health is latent: unhealthy accounts answer surveys with lower CSAT/NPS and churn
  more; accounts with no meeting in the six months before are ~2.5x more likely to churn, and
  accounts with recent meetings score higher. ~10-12% of accounts churn within the two years.
* Quotas are set per role and year so that roughly half of the rep-months hit quota;
  territories' market potential puts Acme's won revenue at a 4-12% share of each cell.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
from array import array
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

# ----------------------------------------------------------------------------- calendar

CAL_FIRST = date(2014, 1, 1)
CAL_LAST = date(2026, 12, 31)
WARMUP = date(2023, 7, 1)
START_D = date(2024, 1, 1).toordinal() - CAL_FIRST.toordinal()
END_D = date(2025, 12, 31).toordinal() - CAL_FIRST.toordinal()
NEVER = 10**7
HOLIDAYS = ((1, 1), (7, 4), (12, 25), (12, 26))


def day_of(iso: str) -> int:
    """Day number (days since CAL_FIRST) of an ISO date."""
    return date.fromisoformat(iso).toordinal() - CAL_FIRST.toordinal()


@dataclass
class Month:
    idx: int
    year: int
    month: int
    first: int
    last: int
    workdays: list[int]

    @property
    def label(self) -> str:
        return f"{self.year}-{self.month:02d}"


class Calendar:
    """Day numbers, ISO strings, working days and the simulated months."""

    def __init__(self) -> None:
        n_days = CAL_LAST.toordinal() - CAL_FIRST.toordinal() + 1
        days = [CAL_FIRST + timedelta(i) for i in range(n_days)]
        self.iso = [d.isoformat() for d in days]
        self.month_num = [d.month for d in days]
        work = [d.weekday() < 5 and (d.month, d.day) not in HOLIDAYS for d in days]
        self.next_wd = list(range(n_days))
        self.prev_wd = list(range(n_days))
        for i in range(n_days - 2, -1, -1):
            if not work[i]:
                self.next_wd[i] = self.next_wd[i + 1]
        for i in range(1, n_days):
            if not work[i]:
                self.prev_wd[i] = self.prev_wd[i - 1]
        self.months: list[Month] = []
        self.month_of = [-1] * n_days
        year, month = WARMUP.year, WARMUP.month
        while (year, month) <= (2025, 12):
            first = date(year, month, 1)
            nxt = date(year + month // 12, month % 12 + 1, 1)
            lo = first.toordinal() - CAL_FIRST.toordinal()
            hi = nxt.toordinal() - CAL_FIRST.toordinal() - 1
            idx = len(self.months)
            self.months.append(Month(idx, year, month, lo, hi, [d for d in range(lo, hi + 1) if work[d]]))
            for d in range(lo, hi + 1):
                self.month_of[d] = idx
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        self.first_window_month = self.month_of[START_D]

    def random_day(self, rng: random.Random, lo: int, hi: int) -> int:
        """A uniformly random working day in [lo, hi] (lo itself if there is none)."""
        day = self.next_wd[lo + int(rng.random() * (hi - lo + 1))]
        return day if day <= hi else self.prev_wd[hi] if self.prev_wd[hi] >= lo else lo


# ----------------------------------------------------------------------------- catalogs

REGIONS = ("North", "South", "East", "West")
TEAMS = (  # team, region index, manager
    ("Falcons", 0, "Helen Brooks"),
    ("Mustangs", 1, "Carlos Vega"),
    ("Orcas", 3, "Rebecca Stone"),
    ("Lynx", 2, "Thomas Reed"),
)
SEGMENTS = ("Enterprise", "Mid-Market", "SMB")
ENT, MID, SMB = 0, 1, 2
SEGMENT_SHARE = (0.10, 0.30, 0.60)
INDUSTRIES = (
    ("Manufacturing", ("Manufacturing", "Industries", "Works", "Fabrication")),
    ("Healthcare", ("Health", "Medical", "Clinics", "Care")),
    ("Retail", ("Retail", "Stores", "Outfitters", "Market")),
    ("Logistics", ("Logistics", "Freight", "Transport", "Shipping")),
    ("Financial Services", ("Capital", "Financial", "Bancorp", "Partners")),
    ("Education", ("Academy", "Learning", "Schools", "Institute")),
    ("Construction", ("Builders", "Construction", "Contractors", "Engineering")),
    ("Hospitality", ("Hotels", "Hospitality", "Resorts", "Dining")),
)
INDUSTRY_WEIGHTS = (18, 14, 16, 12, 10, 8, 12, 10)
NAME_A = (
    "Blue",
    "Red",
    "Green",
    "Silver",
    "Golden",
    "North",
    "South",
    "East",
    "West",
    "Summit",
    "River",
    "Lake",
    "Pine",
    "Oak",
    "Cedar",
    "Maple",
    "Granite",
    "Iron",
    "Copper",
    "Harbor",
    "Bright",
    "Clear",
    "Prime",
    "Union",
    "Liberty",
    "Eagle",
    "Falcon",
    "Atlas",
    "Apex",
    "Pioneer",
    "Coastal",
    "Prairie",
    "Valley",
    "Highland",
    "Metro",
    "Global",
    "United",
    "Central",
    "Sun",
    "Star",
)
NAME_B = (
    "Ridge",
    "Stone",
    "Field",
    "Bridge",
    "Point",
    "Crest",
    "Gate",
    "Wood",
    "Brook",
    "Rock",
    "Peak",
    "Line",
    "Way",
    "Haven",
    "Port",
    "Mill",
    "Spring",
    "Hill",
    "View",
    "Vale",
    "Works",
    "Forge",
    "Path",
    "Shore",
    "Bay",
)
ENTERPRISE_SUFFIX = ("Group", "Corporation", "Holdings", "International")

PRODUCTS = ("Core Platform", "Analytics Add-on", "Edge Devices", "Support Plan", "Training", "Cloud Backup")
FOCUS = 1
PRICES = (  # median list price per deal: Enterprise, Mid-Market, SMB
    (165000, 42000, 11000),
    (70000, 18000, 5200),
    (110000, 28000, 7500),
    (38000, 9500, 2600),
    (18000, 5200, 1500),
    (46000, 12500, 3600),
)
PRODUCT_MIX_NEW = (0.50, 0.08, 0.20, 0.0, 0.07, 0.15)
PRODUCT_MIX_CUSTOMER = {
    2024: (0.09, 0.22, 0.16, 0.24, 0.13, 0.16),
    2025: (0.08, 0.32, 0.14, 0.21, 0.11, 0.14),
}
PRODUCT_DISCOUNT = (0.0, 0.02, 0.0, -0.02, -0.02, 0.0)
SKIP_DEMO = (0.03, 0.03, 0.03, 0.20, 0.25, 0.03)

SOURCES = ("Inbound", "Outbound", "Referral", "Partner", "Event")
EVENT = 4
SOURCE_MIX = {
    "sdr": (0.20, 0.62, 0.04, 0.04, 0.10),
    "new": (0.30, 0.22, 0.16, 0.16, 0.16),
    "customer": (0.25, 0.35, 0.12, 0.13, 0.15),
}
EVENT_MONTHS = (3, 10)
SOURCE_WIN = (1.04, 0.90, 1.15, 1.06, 0.96)

STAGES = ("Lead", "Qualified", "Demo", "Proposal", "Negotiation", "Won", "Lost")
DEMO, PROPOSAL, NEGOTIATION, WON, LOST = 2, 3, 4, 5, 6
STAGE_FRAC = (0.15, 0.20, 0.20, 0.25, 0.20)
CYCLE_DAYS = ((60, 170), (30, 95), (15, 45))
BASE_CONV = (0.90, 0.94, 0.90, 0.92, 0.86)
SEG_WIN = (0.93, 1.0, 1.03)
MONTH_WIN = (1.0, 1.0, 1.0, 1.04, 1.0, 1.0, 1.04, 1.0, 0.90, 1.04, 1.08, 1.10, 1.15)
TOUCH_RATE = (0.75, 0.9, 0.7, 0.8, 0.9)
P_STALL = 0.002
P_BACK = 0.025
LOST_REASONS = ("Price", "Competitor", "No decision", "Timing", "Budget", "Product fit")
LOST_MIX = (
    (0, 0, 30, 25, 20, 25),
    (0, 10, 25, 20, 25, 20),
    (10, 25, 20, 10, 10, 25),
    (35, 30, 10, 10, 15, 0),
    (40, 30, 5, 10, 15, 0),
)

CALL, EMAIL, MEETING, DEMO_ACT = 0, 1, 2, 3
KINDS = ("call", "email", "meeting", "demo")
TOUCH_KINDS = (  # cumulative weights of call, email, meeting, demo per stage
    (0.55, 1.0, 1.0, 1.0),
    (0.40, 0.75, 1.0, 1.0),
    (0.35, 0.70, 0.90, 1.0),
    (0.35, 0.75, 1.0, 1.0),
    (0.40, 0.70, 1.0, 1.0),
)
OUTCOMES = ("", "connected", "no_answer", "voicemail", "held", "no_show", "rescheduled", "sent", "replied")
CONNECTED, NO_ANSWER, VOICEMAIL, HELD, NO_SHOW, RESCHEDULED, SENT, REPLIED = range(1, 9)
MEETING_MINUTES = (30, 30, 45, 60)
DEMO_MINUTES = (45, 60, 60, 90)

SEASON_ACT = (0, 0.95, 1.0, 1.05, 1.0, 1.0, 1.0, 0.92, 0.70, 1.0, 1.05, 1.05, 0.85)
SEASON_DEAL = (0, 0.95, 1.0, 1.05, 1.0, 1.0, 1.0, 0.95, 0.80, 1.10, 1.15, 1.15, 0.95)
YEAR_ACT = {2023: 1.0, 2024: 1.0, 2025: 1.05}
YEAR_DEAL = {2023: 1.0, 2024: 1.0, 2025: 1.04}
YEAR_PRICE = {2023: 1.0, 2024: 1.0, 2025: 1.04}
RAMP_ACT = (0.5, 0.7, 0.85)
RAMP_QUOTA = (0.25, 0.5, 0.75)
DEALS_PER_MEETING = 2.3
CONNECTED_CALL_WEIGHT = 0.3
ACT_WEIGHT = (3.0, 1.6, 1.0)
DEAL_WEIGHT = (3.0, 1.6, 1.0)

CHURN_BASE = 0.0024
CHURN_SEGMENT = (0.45, 0.8, 1.3)
CHURN_NEGLECT = 2.6
CHURN_REASONS = ("Price", "Competitor", "Service", "Budget cut", "Went out of business")
SURVEY_RATE = (0.11, 0.08, 0.065)

# ----------------------------------------------------------------------------- reps


@dataclass(frozen=True)
class Archetype:
    rate: float  # untied activities per working day
    meeting_share: float
    call_share: float  # share of calls among the non-meeting activities
    connect: float
    skill: tuple[float, float, float, float, float]  # per funnel step, Lead->Qualified first
    diligence: float  # multiplier of deal-tied activities
    discount: float
    hygiene: float  # probability of leaving the outcome empty


ARCHETYPES = {
    "steady": Archetype(1.0, 0.16, 0.53, 0.35, (1.0, 1.0, 1.0, 1.0, 1.0), 1.0, 0.075, 0.10),
    "good": Archetype(1.15, 0.17, 0.53, 0.39, (1.06,) * 5, 1.15, 0.065, 0.08),
    "star": Archetype(1.3, 0.18, 0.53, 0.43, (1.12,) * 5, 1.35, 0.05, 0.05),
    "busy_weak": Archetype(1.6, 0.22, 0.53, 0.36, (1.0, 1.0, 0.55, 1.0, 1.0), 1.2, 0.08, 0.09),
    "discounter": Archetype(1.0, 0.16, 0.53, 0.34, (1.0, 1.0, 1.0, 0.86, 0.86), 1.0, 0.22, 0.09),
    "idle": Archetype(0.45, 0.12, 0.53, 0.26, (0.85,) * 5, 0.6, 0.09, 0.16),
    "sloppy": Archetype(1.05, 0.16, 0.53, 0.33, (1.0,) * 5, 0.95, 0.08, 0.45),
    "underperformer": Archetype(0.85, 0.14, 0.53, 0.29, (0.85,) * 5, 0.85, 0.10, 0.12),
    "sdr": Archetype(1.9, 0.05, 0.62, 0.31, (1.05, 1.0, 0.95, 0.95, 0.95), 0.9, 0.06, 0.10),
}


@dataclass(frozen=True)
class Template:
    name: str
    team: int
    role: str
    archetype: str
    hired: tuple[str, str] | None = None  # hire window inside 2024/2025
    left: tuple[str, str] | None = None  # exit window
    reason: str = ""


ROSTER = (
    Template("Maya Chen", 0, "AE", "star"),
    Template("Derek Lawson", 0, "AE", "busy_weak"),
    Template("Sofia Ramirez", 0, "AE", "steady"),
    Template("James O'Connor", 0, "AE", "steady", left=("2024-04-01", "2024-06-28"), reason="Compensation"),
    Template("Priya Nair", 0, "AE", "steady", hired=("2024-06-03", "2024-08-15")),
    Template("Liam Foster", 0, "SDR", "sdr"),
    Template("Grace Kim", 0, "AE", "good"),
    Template("Noah Bennett", 0, "AE", "steady", hired=("2025-02-03", "2025-04-30")),
    Template("Victor Hale", 1, "AE", "discounter"),
    Template("Emily Carter", 1, "AE", "steady"),
    Template("Marcus Johnson", 1, "AE", "good", left=("2024-08-01", "2024-10-31"), reason="Manager"),
    Template("Olivia Turner", 1, "AE", "good"),
    Template("Ethan Walsh", 1, "SDR", "sdr"),
    Template("Hannah Lee", 1, "AE", "steady", hired=("2024-02-01", "2024-03-29")),
    Template(
        "Daniel Morgan", 1, "AE", "underperformer", left=("2025-03-03", "2025-05-30"), reason="Performance"
    ),
    Template("Chloe Adams", 1, "AE", "steady", hired=("2024-11-18", "2025-01-31")),
    Template("Gary Pruitt", 2, "AE", "idle"),
    Template("Aisha Patel", 2, "AE", "good"),
    Template("Ryan Mitchell", 2, "AE", "busy_weak"),
    Template("Laura Schmidt", 2, "AE", "steady", left=("2024-05-01", "2024-07-31"), reason="Career move"),
    Template("Kevin Nguyen", 2, "AE", "steady"),
    Template("Zoe Martin", 2, "SDR", "sdr"),
    Template("Samuel Ortiz", 2, "AE", "steady", hired=("2024-08-01", "2024-10-15")),
    Template("Tom Becker", 3, "AE", "sloppy"),
    Template("Natalie Ross", 3, "AE", "good"),
    Template("Benjamin Clarke", 3, "AE", "steady", left=("2024-10-01", "2024-12-20"), reason="Relocation"),
    Template("Isabel Duarte", 3, "AE", "steady"),
    Template("Alex Novak", 3, "AE", "steady", hired=("2024-03-01", "2024-05-15")),
    Template("Megan Flores", 3, "AE", "good", left=("2025-06-02", "2025-08-29"), reason="Compensation"),
    Template("Jordan Hayes", 3, "AE", "steady", hired=("2025-05-01", "2025-07-15")),
)
VETERAN_HIRED = ("2015-03-02", "2023-06-30")


@dataclass
class Rep:
    idx: int
    name: str
    team: int
    region: int
    role: str
    hire: int
    exit: int
    exit_reason: str
    rate: float
    meeting_share: float
    call_share: float
    connect: float
    skill: tuple[float, ...]
    diligence: float
    discount: float
    hygiene: float

    def ramp_month(self, month: Month) -> int:
        """0, 1, 2 for the first three months after a hire inside the window, else -1."""
        if self.hire < START_D:
            return -1
        hired = date.fromordinal(CAL_FIRST.toordinal() + self.hire)
        k = (month.year - hired.year) * 12 + month.month - hired.month
        return k if 0 <= k < 3 else -1


def window_day(rng: random.Random, cal: Calendar, window: tuple[str, str]) -> int:
    return cal.random_day(rng, day_of(window[0]), day_of(window[1]))


def build_reps(rng: random.Random, cal: Calendar, scale: int) -> list[Rep]:
    reps: list[Rep] = []
    for copy in range(scale):
        for tpl in ROSTER:
            arch = ARCHETYPES[tpl.archetype]
            hire = window_day(rng, cal, tpl.hired or VETERAN_HIRED)
            exit_day = window_day(rng, cal, tpl.left) if tpl.left else NEVER
            jitter = rng.uniform(0.9, 1.1)
            reps.append(
                Rep(
                    idx=len(reps),
                    name=tpl.name if copy == 0 else f"{tpl.name} {copy + 1}",
                    team=tpl.team,
                    region=TEAMS[tpl.team][1],
                    role=tpl.role,
                    hire=hire,
                    exit=exit_day,
                    exit_reason=tpl.reason,
                    rate=arch.rate * jitter,
                    meeting_share=arch.meeting_share * rng.uniform(0.92, 1.08),
                    call_share=arch.call_share,
                    connect=arch.connect + rng.uniform(-0.025, 0.025),
                    skill=tuple(s * rng.uniform(0.97, 1.03) for s in arch.skill),
                    diligence=arch.diligence * rng.uniform(0.92, 1.08),
                    discount=arch.discount * rng.uniform(0.9, 1.1),
                    hygiene=arch.hygiene * rng.uniform(0.8, 1.2),
                )
            )
    return reps


# ----------------------------------------------------------------------------- accounts


@dataclass
class Accounts:
    ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    segment: list[int] = field(default_factory=list)
    industry: list[int] = field(default_factory=list)
    region: list[int] = field(default_factory=list)
    key: list[bool] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    customer_since: list[int] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    last_meeting: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def account_name(rng: random.Random, industry: int, segment: int, seen: dict[str, int]) -> str:
    base = f"{rng.choice(NAME_A)}{rng.choice(NAME_B).lower()}"
    suffix = rng.choice(INDUSTRIES[industry][1])
    name = f"{base} {suffix}"
    if segment == ENT and rng.random() < 0.6:
        name = f"{name} {rng.choice(ENTERPRISE_SUFFIX)}"
    count = seen.get(name, 0) + 1
    seen[name] = count
    return name if count == 1 else f"{name} {count}"


def account_created(rng: random.Random, new: bool) -> int:
    if new:
        lo, hi = START_D, END_D
        if rng.random() < 0.535:  # 2025 slightly busier than 2024
            lo = day_of("2025-01-01")
        else:
            hi = day_of("2024-12-31")
        return rng.randint(lo, hi)
    year = rng.choices(range(2016, 2024), weights=(3, 4, 5, 6, 8, 10, 12, 14))[0]
    return rng.randint(day_of(f"{year}-01-01"), day_of(f"{year}-12-31"))


def build_accounts(rng: random.Random, reps: list[Rep], scale: int) -> Accounts:
    region_weights = [0] * len(REGIONS)
    for tpl in ROSTER:
        region_weights[TEAMS[tpl.team][1]] += 1
    accounts = Accounts()
    seen: dict[str, int] = {}
    drafts = []
    for _ in range(2000 * scale):
        new = rng.random() < 0.2
        drafts.append((account_created(rng, new), rng.random()))
    drafts.sort()  # ids follow creation order, like a real CRM
    for created, _tiebreak in drafts:
        segment = rng.choices(range(3), weights=SEGMENT_SHARE)[0]
        industry = rng.choices(range(len(INDUSTRIES)), weights=INDUSTRY_WEIGHTS)[0]
        region = rng.choices(range(len(REGIONS)), weights=region_weights)[0]
        key = rng.random() < (0.6, 0.07, 0.008)[segment]
        accounts.ids.append(f"A{len(accounts.ids) + 1:05d}")
        accounts.names.append(account_name(rng, industry, segment, seen))
        accounts.segment.append(segment)
        accounts.industry.append(industry)
        accounts.region.append(region)
        accounts.key.append(key)
        accounts.created.append(created)
        existing = created < START_D
        accounts.customer_since.append(created if existing and rng.random() < 0.85 else NEVER)
        accounts.health.append(rng.gauss(0.3 if key else 0.0, 1.0))
        recency = (60, 120, 200)[segment]
        accounts.last_meeting.append(START_D - int(rng.expovariate(1 / recency)) if existing else created)
    return accounts


# ----------------------------------------------------------------------------- ownership

Timeline = list[tuple[int, int]]  # (from day, rep index), chronological


class Ownership:
    """Assigns accounts to reps of their region over time (SDRs own SMB accounts only)."""

    def __init__(self, rng: random.Random, reps: list[Rep], accounts: Accounts) -> None:
        self.rng = rng
        self.reps = reps
        self.accounts = accounts
        self.timelines: list[Timeline] = [[] for _ in range(len(accounts))]
        for region in range(len(REGIONS)):
            self._assign_region(region)

    def owner_at(self, acc: int, day: int) -> int:
        timeline = self.timelines[acc]
        for frm, rep in reversed(timeline):
            if frm <= day:
                return rep
        return timeline[0][1]

    def books(self) -> list[list[tuple[int, int, int]]]:
        """Per rep: (account, from day, to day) ownership intervals."""
        books: list[list[tuple[int, int, int]]] = [[] for _ in self.reps]
        for acc, timeline in enumerate(self.timelines):
            for i, (frm, rep) in enumerate(timeline):
                to = timeline[i + 1][0] - 1 if i + 1 < len(timeline) else NEVER
                if to >= frm:
                    books[rep].append((acc, frm, to))
        return books

    def _assign_region(self, region: int) -> None:
        reps = [r for r in self.reps if r.region == region]
        self.active_all = [r.idx for r in reps if r.hire <= START_D <= r.exit]
        self.active_ae = [i for i in self.active_all if self.reps[i].role == "AE"]
        self.recent: list[int] = []
        self.book: dict[int, dict[int, None]] = {r.idx: {} for r in reps}
        self.existing: list[int] = []
        accs = [a for a in range(len(self.accounts)) if self.accounts.region[a] == region]
        events: list[tuple[int, int, int]] = []  # (day, kind, id): 0 exit, 1 hire, 2 account
        for rep in reps:
            if rep.exit < NEVER:
                events.append((rep.exit + 1, 0, rep.idx))
            if rep.hire > START_D:
                events.append((rep.hire, 1, rep.idx))
        for acc in accs:
            if self.accounts.created[acc] < START_D:
                self._give(acc, self._pick(acc, START_D), self.accounts.created[acc])
                self.existing.append(acc)
            else:
                events.append((self.accounts.created[acc], 2, acc))
        events.sort()
        for day, kind, ident in events:
            self.recent = [r for r in self.recent if self.reps[r].hire + 180 >= day]
            if kind == 0:
                self._leave(ident, day)
            elif kind == 1:
                self._join(ident, day)
            else:
                self._give(ident, self._pick(ident, day), day)
                self.existing.append(ident)

    def _eligible(self, rep: int, acc: int) -> bool:
        return self.reps[rep].role == "AE" or self.accounts.segment[acc] == SMB

    def _pick(self, acc: int, day: int) -> int:
        recent = [r for r in self.recent if self._eligible(r, acc)]
        if recent and self.rng.random() < 0.35:
            return self.rng.choice(recent)
        pool = self.active_all if self.accounts.segment[acc] == SMB else self.active_ae
        return self.rng.choice(pool)

    def _give(self, acc: int, rep: int, day: int) -> None:
        timeline = self.timelines[acc]
        if timeline:
            del self.book[timeline[-1][1]][acc]
        timeline.append((day, rep))
        self.book[rep][acc] = None

    def _leave(self, rep: int, day: int) -> None:
        self.active_all.remove(rep)
        if rep in self.active_ae:
            self.active_ae.remove(rep)
        if rep in self.recent:
            self.recent.remove(rep)
        for acc in list(self.book[rep]):
            self._give(acc, self._pick(acc, day), day)

    def _join(self, rep: int, day: int) -> None:
        self.active_all.append(rep)
        if self.reps[rep].role == "AE":
            self.active_ae.append(rep)
        share = round(0.5 * len(self.existing) / len(self.active_all))
        for _ in range(share):
            acc = self.existing[int(self.rng.random() * len(self.existing))]
            if self.timelines[acc][-1][1] != rep and self._eligible(rep, acc):
                self._give(acc, rep, day)
        self.recent.append(rep)


# ----------------------------------------------------------------------------- simulation


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def cumulative(weights: tuple[float, ...]) -> list[float]:
    return list(accumulate(weights))


@dataclass
class Deal:
    """The simulated life of one deal; stage is the final/current stage index."""

    rep: int
    acc: int
    created: int
    product: int
    source: int
    amount: float
    discount: float
    history: list[tuple[int, int]]
    touches: list[tuple[int, int]]  # (day, activity kind)
    stage: int = 0
    close: int = NEVER
    lost_stage: int = -1
    lost_reason: int = -1


class Writers:
    """Opens every output CSV; closing flushes them."""

    HEADERS = {
        "reps": ("rep", "team", "region", "manager", "role", "hire_date", "exit_date", "exit_reason"),
        "accounts": (
            "account_id",
            "account_name",
            "segment",
            "industry",
            "region",
            "owner",
            "is_key_account",
            "created_date",
            "churn_date",
            "churn_reason",
        ),
        "deals": (
            "deal_id",
            "account_id",
            "rep",
            "product",
            "lead_source",
            "stage",
            "amount",
            "discount_pct",
            "created_date",
            "close_date",
            "lost_reason",
            "lost_stage",
        ),
        "stage_history": ("deal_id", "stage", "entered"),
        "activities": (
            "activity_id",
            "rep",
            "account_id",
            "deal_id",
            "type",
            "date",
            "outcome",
            "duration_min",
        ),
        "quotas": ("rep", "period", "month_start", "quota_amount"),
        "territories": ("region", "segment", "market_potential", "target_accounts"),
        "surveys": ("response_id", "account_id", "date", "csat", "nps"),
    }

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.files = {
            name: (out / f"{name}.csv").open("w", encoding="utf-8", newline="") for name in self.HEADERS
        }
        self.writers = {name: csv.writer(f, lineterminator="\n") for name, f in self.files.items()}
        self.counts = dict.fromkeys(self.HEADERS, 0)
        for name, header in self.HEADERS.items():
            self.writers[name].writerow(header)

    def rows(self, name: str, rows: list[tuple[Any, ...]]) -> None:
        self.writers[name].writerows(rows)
        self.counts[name] += len(rows)

    def close(self) -> None:
        for f in self.files.values():
            f.close()


class Simulator:
    def __init__(
        self,
        rng: random.Random,
        cal: Calendar,
        reps: list[Rep],
        accounts: Accounts,
        ownership: Ownership,
        out: Writers,
    ) -> None:
        self.rng = rng
        self.cal = cal
        self.reps = reps
        self.acc = accounts
        self.own = ownership
        self.books = ownership.books()
        self.out = out
        n_acc, n_months = len(accounts), len(cal.months)
        self.n_months = n_months
        self.meetings = array("H", bytes(2 * n_acc * n_months))  # held meetings per acc-month
        self.busy_until = [-1] * n_acc
        self.churn_day = [NEVER] * n_acc
        self.churn_reason = [-1] * n_acc
        self.churn_weight = [
            CHURN_BASE * CHURN_SEGMENT[s] * (0.5 if k else 1.0) * math.exp(-0.8 * h)
            for s, k, h in zip(accounts.segment, accounts.key, accounts.health, strict=True)
        ]
        self.act_weight = [
            ACT_WEIGHT[s] * (2.0 if k else 1.0) for s, k in zip(accounts.segment, accounts.key, strict=True)
        ]
        self.deal_weight = [
            DEAL_WEIGHT[s] * (1.5 if k else 1.0) for s, k in zip(accounts.segment, accounts.key, strict=True)
        ]
        self.won = [[0.0] * n_months for _ in reps]
        self.won_cell = [[0.0] * len(SEGMENTS) for _ in REGIONS]
        self.buckets: list[list[tuple[int, ...]]] = [[] for _ in range(n_months)]
        self.seq = 0
        self.n_deals = 0
        self.source_cw = {
            (kind, month): cumulative(
                tuple(w * (2.5 if i == EVENT and month in EVENT_MONTHS else 1.0) for i, w in enumerate(mix))
            )
            for kind, mix in SOURCE_MIX.items()
            for month in range(1, 13)
        }
        self.product_cw = {"new": cumulative(PRODUCT_MIX_NEW)} | {
            year: cumulative(mix) for year, mix in PRODUCT_MIX_CUSTOMER.items()
        }
        self.lost_cw = [cumulative(mix) for mix in LOST_MIX]

    # ------------------------------------------------------------------ month loop

    def run(self) -> None:
        for month in self.cal.months:
            if month.first >= START_D:
                self._accounts_month(month)
            specs: list[tuple[int, int, int, int]] = []
            for rep in self.reps:
                specs.extend(self._rep_month(rep, month))
            specs.sort()
            for created, rep, _seq, acc in specs:
                self._deal(rep, acc, created)
            self._flush_activities(month)

    def _rep_month(self, rep: Rep, month: Month) -> list[tuple[int, int, int, int]]:
        """Untied activities of a rep in a month, and the deals they open (as specs)."""
        lo, hi = max(month.first, rep.hire), min(month.last, rep.exit)
        days = [d for d in month.workdays if lo <= d <= hi]
        if not days:
            return []
        pool, act_cw, deal_cw = self._pool(rep, month, hi)
        if not pool:
            return []
        ramp = rep.ramp_month(month)
        level = (RAMP_ACT[ramp] if ramp >= 0 else 1.0) * SEASON_ACT[month.month]
        n_acts = poisson(self.rng, rep.rate * len(days) * level * YEAR_ACT[month.year])
        held, connected = self._prospect(rep, days, hi, pool, act_cw, n_acts, record=month.first >= START_D)
        lam = (
            DEALS_PER_MEETING
            * (held + CONNECTED_CALL_WEIGHT * connected)
            * SEASON_DEAL[month.month]
            * YEAR_DEAL[month.year]
        )
        specs = []
        for acc in self.rng.choices(pool, cum_weights=deal_cw, k=poisson(self.rng, lam)):
            day = self._day_for(acc, days, hi)
            if day >= 0:
                specs.append((day, rep.idx, self.seq, acc))
                self.seq += 1
        return specs

    def _pool(self, rep: Rep, month: Month, hi: int) -> tuple[list[int], list[float], list[float]]:
        created, customer_since = self.acc.created, self.acc.customer_since
        lo = max(month.first, rep.hire)
        pool, act_w, deal_w = [], [], []
        for acc, frm, to in self.books[rep.idx]:
            if to < lo or frm > hi or created[acc] > hi or self.churn_day[acc] < NEVER:
                continue
            boost = 5.0 if created[acc] >= month.first - 31 else 1.0
            pool.append(acc)
            act_w.append(self.act_weight[acc])
            deal_w.append(self.deal_weight[acc] * boost * (1.0 if customer_since[acc] <= lo else 0.9))
        return pool, list(accumulate(act_w)), list(accumulate(deal_w))

    def _day_for(self, acc: int, days: list[int], hi: int) -> int:
        """A random day of the rep's month, not before the account exists (-1 if impossible)."""
        day = days[int(self.rng.random() * len(days))]
        created = self.acc.created[acc]
        if day < created:
            day = self.cal.next_wd[created]
            return day if day <= hi else -1
        return day

    def _prospect(
        self,
        rep: Rep,
        days: list[int],
        hi: int,
        pool: list[int],
        cum_weights: list[float],
        n_acts: int,
        record: bool,
    ) -> tuple[int, int]:
        """Untied calls, emails and meetings; returns (meetings held, calls connected)."""
        rng = self.rng
        held = connected = 0
        call_cut = (1 - rep.meeting_share) * rep.call_share
        email_cut = 1 - rep.meeting_share
        for acc in rng.choices(pool, cum_weights=cum_weights, k=n_acts):
            day = self._day_for(acc, days, hi)
            if day < 0:
                continue
            u = rng.random()
            kind = CALL if u < call_cut else EMAIL if u < email_cut else MEETING
            outcome, minutes = self._outcome(rep, kind, tied=False)
            held += outcome == HELD
            connected += outcome == CONNECTED
            if record:
                self._record(day, rep, acc, 0, kind, outcome, minutes)
        return held, connected

    def _outcome(self, rep: Rep, kind: int, tied: bool) -> tuple[int, int]:
        """(outcome, duration in minutes; -1 for emails)."""
        rng = self.rng
        u = rng.random()
        if kind == CALL:
            if u < rep.connect:
                return CONNECTED, min(60, 2 + int(rng.expovariate(1 / 9)))
            return (NO_ANSWER, 1) if rng.random() < 0.6 else (VOICEMAIL, 2)
        if kind == EMAIL:
            return (REPLIED if u < (0.35 if tied else 0.22) else SENT), -1
        minutes = rng.choice(MEETING_MINUTES if kind == MEETING else DEMO_MINUTES)
        if u < 0.86:
            return HELD, minutes
        return (NO_SHOW, 0) if u < 0.93 else (RESCHEDULED, 0)

    def _record(self, day: int, rep: Rep, acc: int, deal: int, kind: int, outcome: int, minutes: int) -> None:
        month = self.cal.month_of[day]
        if outcome == HELD:
            self.meetings[acc * self.n_months + month] += 1
            if day > self.acc.last_meeting[acc]:
                self.acc.last_meeting[acc] = day
        if self.rng.random() < rep.hygiene:
            outcome = 0
        self.buckets[month].append((day, self.seq, rep.idx, acc, deal, kind, outcome, minutes))
        self.seq += 1

    def _flush_activities(self, month: Month) -> None:
        rows = self.buckets[month.idx]
        self.buckets[month.idx] = []
        rows.sort()
        iso, acc_ids, names = self.cal.iso, self.acc.ids, [r.name for r in self.reps]
        first = self.out.counts["activities"] + 1
        self.out.rows(
            "activities",
            [
                (
                    f"X{i:07d}",
                    names[rep],
                    acc_ids[acc],
                    f"D{deal:06d}" if deal else "",
                    KINDS[kind],
                    iso[day],
                    OUTCOMES[outcome],
                    "" if minutes < 0 else minutes,
                )
                for i, (day, _s, rep, acc, deal, kind, outcome, minutes) in enumerate(rows, first)
            ],
        )

    # ------------------------------------------------------------------ deals

    def _deal(self, rep_idx: int, acc: int, created: int) -> None:
        deal = self._simulate(self.reps[rep_idx], acc, created)
        if deal.close < START_D:  # warm-up deal closed before the export window
            return
        self.n_deals += 1
        deal_num = self.n_deals
        final_day = min(deal.close, END_D)
        owner = self._responsible(deal.rep, acc, final_day)
        self._write_deal(deal_num, deal, owner)
        for day, kind in deal.touches:
            if START_D <= day <= END_D:
                rep = self.reps[self._responsible(deal.rep, acc, day)]
                outcome, minutes = self._outcome(rep, kind, tied=True)
                self._record(day, rep, acc, deal_num, kind, outcome, minutes)
        self.busy_until[acc] = max(self.busy_until[acc], final_day if deal.close < NEVER else NEVER)
        if deal.stage == WON:
            month = self.cal.months[self.cal.month_of[deal.close]]
            self.won[owner][month.idx] += deal.amount
            self.won_cell[self.acc.region[acc]][self.acc.segment[acc]] += deal.amount

    def _responsible(self, creator: int, acc: int, day: int) -> int:
        """The creator while employed, afterwards whoever owns the account."""
        return creator if day <= self.reps[creator].exit else self.own.owner_at(acc, day)

    def _simulate(self, rep: Rep, acc: int, created: int) -> Deal:
        rng, cal = self.rng, self.cal
        segment = self.acc.segment[acc]
        month = cal.months[cal.month_of[created]]
        is_customer = self.acc.customer_since[acc] <= created
        product_cw = self.product_cw[max(2024, month.year) if is_customer else "new"]
        product = rng.choices(range(len(PRODUCTS)), cum_weights=product_cw)[0]
        kind = "sdr" if rep.role == "SDR" else "customer" if is_customer else "new"
        source = rng.choices(range(len(SOURCES)), cum_weights=self.source_cw[kind, month.month])[0]
        discount = rep.discount + (0.05, 0.02, 0.0)[segment] + PRODUCT_DISCOUNT[product]
        discount = min(0.35, max(0.0, discount + rng.gauss(0, 0.03)))
        price = PRICES[product][segment] * rng.lognormvariate(0, 0.4) * YEAR_PRICE[month.year]
        deal = Deal(
            rep.idx,
            acc,
            created,
            product,
            source,
            round(price * (1 - discount), 2),
            discount,
            [(0, created)],
            [],
        )
        cycle = rng.uniform(*CYCLE_DAYS[segment])
        weights = [f * rng.uniform(0.7, 1.3) for f in STAGE_FRAC]
        dwell = [max(1, round(cycle * w / sum(weights))) for w in weights]
        self._walk(deal, rep, dwell)
        return deal

    def _walk(self, deal: Deal, rep: Rep, dwell: list[int]) -> None:
        """Moves the deal through the funnel, filling history, touches and the outcome."""
        rng, cal = self.rng, self.cal
        segment = self.acc.segment[deal.acc]
        stage, entered, stepped_back = 0, deal.created, False
        while True:
            if rng.random() < P_STALL:  # goes stale: stays open at this stage
                self._touches(deal, stage, entered, entered + dwell[stage], rep)
                deal.stage = stage
                return
            n_touch = poisson(rng, TOUCH_RATE[stage] * rep.diligence)
            advance_day = cal.next_wd[entered + dwell[stage]]
            p = BASE_CONV[stage] * rep.skill[stage] * (0.78 + 0.11 * min(n_touch, 3))
            if stage >= PROPOSAL:
                p *= SOURCE_WIN[deal.source]
            if stage == NEGOTIATION:
                p *= SEG_WIN[segment] * MONTH_WIN[cal.month_num[advance_day]] * (1 + (deal.discount - 0.08))
            if rng.random() < p:
                event, nxt = advance_day, stage + 1 if stage < NEGOTIATION else WON
                if nxt == DEMO and rng.random() < SKIP_DEMO[deal.product]:
                    nxt = PROPOSAL
            else:
                event = cal.next_wd[entered + max(1, round(dwell[stage] * rng.uniform(0.3, 1)))]
                nxt = LOST
            self._touches(deal, stage, entered, event, rep, n_touch)
            if event > END_D:  # still open at export time
                deal.stage = stage
                return
            deal.history.append((nxt, event))
            if nxt >= WON:
                deal.stage, deal.close = nxt, event
                if nxt == LOST:
                    deal.lost_stage = stage
                    deal.lost_reason = self._lost_reason(rep, stage)
                return
            previous, stage, entered = stage, nxt, event
            if stage >= PROPOSAL and not stepped_back and rng.random() < P_BACK:
                back = cal.next_wd[entered + rng.randint(2, 10)]
                again = cal.next_wd[back + rng.randint(3, 15)]
                if again <= END_D:
                    deal.history += [(previous, back), (stage, again)]
                    self._touches(deal, previous, back, again, rep, 1)
                    entered, stepped_back = again, True

    def _touches(self, deal: Deal, stage: int, start: int, end: int, rep: Rep, n: int = -1) -> None:
        """Deal-tied activities while the deal sits in `stage` between start and end."""
        rng, prev_wd = self.rng, self.cal.prev_wd
        if n < 0:
            n = poisson(rng, TOUCH_RATE[stage] * rep.diligence)
        if stage == DEMO:
            deal.touches.append((start, DEMO_ACT))
        cum = TOUCH_KINDS[stage]
        span = min(end, END_D + 1) - start
        for _ in range(n):
            day = prev_wd[start + int(rng.random() * (span + 1))]
            u = rng.random()
            kind = CALL if u < cum[0] else EMAIL if u < cum[1] else MEETING if u < cum[2] else DEMO_ACT
            deal.touches.append((day, kind))

    def _lost_reason(self, rep: Rep, stage: int) -> int:
        cum = self.lost_cw[stage]
        if rep.discount > 0.15:  # heavy discounters rarely lose on price
            weights = list(LOST_MIX[stage])
            weights[0] *= 0.4
            cum = cumulative(tuple(weights))
        return self.rng.choices(range(len(LOST_REASONS)), cum_weights=cum)[0]

    def _write_deal(self, deal_num: int, deal: Deal, owner: int) -> None:
        iso = self.cal.iso
        deal_id = f"D{deal_num:06d}"
        open_early = deal.close == NEVER and deal.stage < DEMO
        self.out.rows(
            "deals",
            [
                (
                    deal_id,
                    self.acc.ids[deal.acc],
                    self.reps[owner].name,
                    PRODUCTS[deal.product],
                    SOURCES[deal.source],
                    STAGES[deal.stage],
                    f"{deal.amount:.2f}",
                    "" if open_early else f"{deal.discount:.4f}",
                    iso[deal.created],
                    iso[deal.close] if deal.close < NEVER else "",
                    LOST_REASONS[deal.lost_reason] if deal.lost_reason >= 0 else "",
                    STAGES[deal.lost_stage] if deal.lost_stage >= 0 else "",
                )
            ],
        )
        self.out.rows("stage_history", [(deal_id, STAGES[s], iso[d]) for s, d in deal.history])
        if deal.stage == WON and deal.close < self.acc.customer_since[deal.acc]:
            self.acc.customer_since[deal.acc] = deal.close

    # ------------------------------------------------------------------ accounts per month

    def _accounts_month(self, month: Month) -> None:
        """Churn (decided at the start of the month) and survey responses of the month."""
        rng, acc = self.rng, self.acc
        surveys = []
        for a in range(len(acc)):
            if acc.customer_since[a] >= month.first or self.churn_day[a] < NEVER:
                continue
            neglected = acc.last_meeting[a] < month.first - 182
            if self.busy_until[a] < month.first:
                hazard = self.churn_weight[a] * (CHURN_NEGLECT if neglected else 1.0)
                if rng.random() < hazard:
                    self.churn_day[a] = self.cal.random_day(rng, month.first, month.last)
                    self.churn_reason[a] = self._churn_reason(a, neglected)
                    continue
            if rng.random() < SURVEY_RATE[acc.segment[a]]:
                surveys.append(self._survey(a, month))
        surveys.sort()
        first = self.out.counts["surveys"] + 1
        self.out.rows(
            "surveys",
            [
                (f"S{i:05d}", acc.ids[a], self.cal.iso[day], csat, nps)
                for i, (day, a, csat, nps) in enumerate(surveys, first)
            ],
        )

    def _churn_reason(self, a: int, neglected: bool) -> int:
        weights = [25.0, 25.0, 20.0, 18.0, 12.0]
        if neglected:
            weights[1] *= 1.4
            weights[2] *= 2.0
        segment = self.acc.segment[a]
        if segment == SMB:
            weights[3] *= 1.3
            weights[4] *= 1.8
        elif segment == ENT:
            weights[4] *= 0.2
        return self.rng.choices(range(len(CHURN_REASONS)), weights=weights)[0]

    def _survey(self, a: int, month: Month) -> tuple[int, int, int | str, int | str]:
        rng = self.rng
        base = a * self.n_months
        recent = sum(self.meetings[base + max(0, month.idx - 6) : base + month.idx])
        latent = (
            0.7 * self.acc.health[a] + 0.35 * min(recent, 3) - (0.6 if recent == 0 else 0) + rng.gauss(0, 0.6)
        )
        csat: int | str = min(5, max(1, round(3.7 + 0.75 * latent)))
        nps: int | str = min(10, max(0, round(7.0 + 1.6 * latent + rng.gauss(0, 0.8))))
        u = rng.random()
        if u < 0.06:
            csat = ""
        elif u < 0.14:
            nps = ""
        day = self.cal.random_day(rng, month.first, month.last)
        return day, a, csat, nps


# ----------------------------------------------------------------------------- static tables


def write_reps(out: Writers, cal: Calendar, reps: list[Rep]) -> None:
    out.rows(
        "reps",
        [
            (
                r.name,
                TEAMS[r.team][0],
                REGIONS[r.region],
                TEAMS[r.team][2],
                r.role,
                cal.iso[r.hire],
                cal.iso[r.exit] if r.exit < NEVER else "",
                r.exit_reason,
            )
            for r in reps
        ],
    )


def write_accounts(out: Writers, cal: Calendar, reps: list[Rep], sim: Simulator) -> None:
    acc = sim.acc
    out.rows(
        "accounts",
        [
            (
                acc.ids[a],
                acc.names[a],
                SEGMENTS[acc.segment[a]],
                INDUSTRIES[acc.industry[a]][0],
                REGIONS[acc.region[a]],
                reps[sim.own.timelines[a][-1][1]].name,
                "true" if acc.key[a] else "false",
                cal.iso[acc.created[a]],
                cal.iso[sim.churn_day[a]] if sim.churn_day[a] < NEVER else "",
                CHURN_REASONS[sim.churn_reason[a]] if sim.churn_reason[a] >= 0 else "",
            )
            for a in range(len(acc))
        ],
    )


def quota_share(rep: Rep, month: Month) -> float:
    """Share of a full quota: ramp for new hires, pro rata in the exit month."""
    ramp = rep.ramp_month(month)
    if ramp >= 0:
        return RAMP_QUOTA[ramp]
    if rep.exit <= month.last:
        worked = sum(1 for d in month.workdays if d <= rep.exit)
        return worked / len(month.workdays)
    return 1.0


def write_quotas(out: Writers, cal: Calendar, reps: list[Rep], sim: Simulator) -> None:
    """Quota per role and year = median won amount of full, ramped rep-months (rounded)."""
    window = cal.months[cal.first_window_month :]
    employed = [(r, m) for r in reps for m in window if r.hire <= m.last and r.exit >= m.first]
    base: dict[tuple[str, int], float] = {}
    for role in ("AE", "SDR"):
        for year in (2024, 2025):
            values = sorted(
                sim.won[r.idx][m.idx]
                for r, m in employed
                if r.role == role and m.year == year and quota_share(r, m) == 1.0
            )
            median = values[len(values) // 2] if values else 0.0
            base[role, year] = max(1000.0, round(median / 500) * 500)
    out.rows(
        "quotas",
        [
            (r.name, m.label, f"{m.label}-01", f"{base[r.role, m.year] * quota_share(r, m):.2f}")
            for r, m in employed
        ],
    )


def write_territories(out: Writers, rng: random.Random, sim: Simulator) -> None:
    counts = [[0] * len(SEGMENTS) for _ in REGIONS]
    for region, segment in zip(sim.acc.region, sim.acc.segment, strict=True):
        counts[region][segment] += 1
    rows = []
    for region in range(len(REGIONS)):
        for segment in range(len(SEGMENTS)):
            annual = max(sim.won_cell[region][segment] / 2, 10000.0)
            potential = round(annual / rng.uniform(0.04, 0.12), -3)
            target = math.ceil(counts[region][segment] * rng.uniform(1.15, 1.5))
            rows.append((REGIONS[region], SEGMENTS[segment], f"{potential:.2f}", target))
    out.rows("territories", rows)


# ----------------------------------------------------------------------------- main


def generate(out_dir: Path, scale: int, seed: int) -> dict[str, int]:
    master = random.Random(seed)
    rng_reps, rng_accounts, rng_owners, rng_sim, rng_tables = (
        random.Random(master.getrandbits(64)) for _ in range(5)
    )
    cal = Calendar()
    reps = build_reps(rng_reps, cal, scale)
    accounts = build_accounts(rng_accounts, reps, scale)
    ownership = Ownership(rng_owners, reps, accounts)
    out = Writers(out_dir)
    try:
        write_reps(out, cal, reps)
        sim = Simulator(rng_sim, cal, reps, accounts, ownership, out)
        sim.run()
        write_accounts(out, cal, reps, sim)
        write_quotas(out, cal, reps, sim)
        write_territories(out, rng_tables, sim)
    finally:
        out.close()
    return out.counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output directory (default: next to this script)",
    )
    parser.add_argument(
        "--scale", type=int, default=1, help="multiply reps, accounts, deals and activities by N (default 1)"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error("--scale must be >= 1")
    counts = generate(args.out, args.scale, args.seed)
    summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    print(
        f"salescode sample data (scale {args.scale}, seed {args.seed}): {summary} -> {args.out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
