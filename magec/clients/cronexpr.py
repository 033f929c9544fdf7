"""Cron expressions: parse once, then ask for the next fire time after a moment, in a time zone.

Contract of :func:`parse` (raises ``ValueError`` with a user-presentable message):

* 5 fields ``minute hour day-of-month month day-of-week`` (Vixie cron): ``*``, ``a``, ``a-b``,
  ``*/n``, ``a-b/n``, ``a/n`` and comma lists; month names ``jan``–``dec`` and weekday names
  ``sun``–``sat``; weekday ``7`` is Sunday. A day field that starts with ``*`` (``*`` itself, or a
  step over it such as ``*/2``) is unrestricted, and a day must match both day fields: ``0 0 */2 *
  1`` is the odd days that are Mondays, as Magec's parser (which always requires every field) and
  Vixie cron read it — not robfig/cron, which takes ``*/2`` as restricted. When both day fields are
  restricted a day matches either (classic cron; Magec requires both: docs/clients.md).
* Macros ``@yearly`` / ``@annually`` / ``@monthly`` / ``@weekly`` / ``@daily`` / ``@midnight`` /
  ``@hourly`` (Magec's list).
* Extensions beyond Magec: a 6-field form with a leading *seconds* field (as robfig/cron's
  ``WithSeconds``), and ``@every <n>s|m|h`` (a fixed interval counted from the Unix epoch, so every
  replica computes the same slots; at most :data:`MAX_EVERY`, 87600h = 10 years, so a slot is
  always a datetime). Both give the scheduler second resolution; tests use them.

:meth:`CronExpr.next_after` returns the first slot strictly after ``moment`` (an aware datetime),
as an aware UTC datetime. Wall-clock times are read in the expression's time zone: a slot that
does not exist (the skipped hour of a DST change) is skipped, an ambiguous one fires once (its
first occurrence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
#: (name, low, high, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_EVERY = re.compile(r"^@every\s+(\d+)\s*([smh])$")
_UNIT = {"s": 1, "m": 60, "h": 3600}
#: the longest ``@every`` interval (10 years, in seconds): far from the datetime range's end
MAX_EVERY = 10 * 365 * 86400
#: how far ahead a slot is searched for (e.g. "30 2 29 2 *" needs up to 8 years)
_HORIZON_YEARS = 9


def timezone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name`` (empty → UTC); ``ValueError`` for an unknown one."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Madrid)") from None


def _field(text: str, index: int) -> frozenset[int]:
    name, low, high, names = _FIELDS[index]
    values: set[int] = set()
    for item in text.lower().split(","):
        if not item:
            raise ValueError(f"{name}: empty list item in {text!r}")
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not _number(step_text) or int(step_text) == 0:
                raise ValueError(f"{name}: bad step {step_text!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        else:
            lo_text, dash, hi_text = base.partition("-")
            start = _value(lo_text, name, low, high, names)
            end = _value(hi_text, name, low, high, names) if dash else (high if step_text else start)
            if end < start:
                raise ValueError(f"{name}: range {base!r} runs backwards")
        values.update(range(start, end + 1, step))
    if index == 5 and 7 in values:  # Sunday is 0 and 7
        values.discard(7)
        values.add(0)
    return frozenset(values)


def _number(text: str) -> bool:
    # ASCII only: str.isdigit() is also true of "²" and "①", which int() refuses (a raw
    # "invalid literal for int()" instead of the field's own message)
    return text.isascii() and text.isdigit()


def _value(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if not _number(text):
        raise ValueError(f"{name}: {text!r} is not a number" + (" or a name" if names else ""))
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is out of range {low}-{high}")
    return value


@dataclass(frozen=True)
class CronExpr:
    text: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    dom_star: bool
    dow_star: bool
    every: int = 0  # seconds, for "@every"

    def _day_ok(self, d: datetime) -> bool:
        dom = d.day in self.days
        dow = (d.isoweekday() % 7) in self.weekdays
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow

    def next_after(self, moment: datetime, tz: ZoneInfo | None = None) -> datetime:
        """The first slot strictly after ``moment`` (aware), as an aware UTC datetime."""
        if self.every:
            epoch = int(moment.timestamp())
            return datetime.fromtimestamp((epoch // self.every + 1) * self.every, UTC)
        zone = tz or ZoneInfo("UTC")
        local = moment.astimezone(zone).replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
        limit = local.year + _HORIZON_YEARS
        t = local
        while t.year <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_ok(t):
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
                continue
            if t.second not in self.seconds:
                t += timedelta(seconds=1)
                continue
            aware = t.replace(tzinfo=zone, fold=0)
            back = aware.astimezone(UTC)
            if back.astimezone(zone).replace(tzinfo=None) != t:
                t += timedelta(seconds=1)  # a wall time the DST change skipped
                continue
            if back <= moment:
                t += timedelta(seconds=1)  # the repeated hour of a DST change: fire once
                continue
            return back
        raise ValueError(f"{self.text!r} never fires")


def parse(text: str) -> CronExpr:
    """Parse ``text`` (see the module contract); ``ValueError`` names what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("is required (e.g. '0 9 * * *' or '@daily')")
    raw = " ".join(text.split())
    low = raw.lower()
    m = _EVERY.match(low)
    if m:
        # bounded: a slot is a datetime (year ≤ 9999), and a huge interval made every worker start
        # fail with OverflowError ("timestamp out of range") instead of being refused at save
        digits = m.group(1).lstrip("0") or "0"
        every = int(digits) * _UNIT[m.group(2)] if len(digits) <= 12 else MAX_EVERY + 1
        if every <= 0:
            raise ValueError("@every needs a positive interval")
        if every > MAX_EVERY:
            raise ValueError(
                f"@every is at most {MAX_EVERY // 3600}h ({MAX_EVERY // (365 * 86400)} years); "
                "use a cron expression such as @yearly for rarer jobs"
            )
        empty: frozenset[int] = frozenset()
        return CronExpr(raw, empty, empty, empty, empty, empty, empty, True, True, every)
    if low.startswith("@"):
        if low not in MACROS:
            raise ValueError(f"unknown macro {raw!r} (use {', '.join(MACROS)} or '@every 30s')")
        low = MACROS[low]
    parts = low.split(" ")
    if len(parts) == 5:
        parts = ["0", *parts]
    elif len(parts) != 6:
        raise ValueError(
            f"{raw!r} has {len(parts)} fields; a cron expression has 5 (minute hour day month weekday)"
        )
    sets = [_field(p, i) for i, p in enumerate(parts)]
    expr = CronExpr(
        raw, sets[0], sets[1], sets[2], sets[3], sets[4], sets[5],
        # Vixie's DOM_STAR / DOW_STAR: the field's first character (so "*/2" is unrestricted)
        dom_star=parts[3].startswith("*"), dow_star=parts[5].startswith("*"),
    )
    expr.next_after(datetime.now(UTC))  # an impossible date (31 Feb) fails here
    return expr
