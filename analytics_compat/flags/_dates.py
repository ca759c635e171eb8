"""Date operators (``is_date_before`` / ``is_date_after``) and the ISO-8601 parser.

Owns parsing of absolute dates (naive taken as UTC, aware kept) and relative
ones (``-7d``, ``-2w``, ``-3m``, ``-1y``, ``-12h``), which resolve against the
``now`` the evaluation passes in, or the current time. Parsing is the same on
every supported Python version (``datetime.fromisoformat`` accepts less before
3.11). It must not know about flags or other operators.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Callable, Optional

from analytics_compat.flags._typing import Compiler, Matcher

__all__ = ["compile_date", "parse_datetime"]

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_RELATIVE = re.compile(r"-?([0-9]+)([a-z])")


def parse_datetime(text: str, *, now: Optional[datetime] = None) -> Optional[datetime]:
    """Parse an ISO-8601 date or datetime; naive values are taken as UTC. None if invalid.

    Accepts ``2024-01-31``, ``2024-01-31T10:00[:00[.123456]]`` with a ``T`` or space,
    and ``Z``, ``+HH:MM``, ``+HHMM``, ``+HH`` or `` UTC`` offsets, on every Python
    version (``datetime.fromisoformat`` accepts less on 3.9/3.10). A bare year takes
    today's month and day, as PostHog does.
    """
    text = text.strip()
    if len(text) == 4 and text.isdigit():
        base = now or datetime.now(timezone.utc)
        try:
            return datetime(int(text), base.month, base.day, tzinfo=timezone.utc)
        except ValueError:
            return None
    return _parse_iso(text)


@lru_cache(maxsize=4096)  # property values repeat: the same users are evaluated again
def _parse_iso(text: str) -> Optional[datetime]:
    if text.upper().endswith(" UTC"):
        text = text[:-4] + "Z"
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction[:6]).ljust(6, "0")) if fraction else 0
    tz = timezone.utc
    if offset and offset.upper() != "Z":
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        if delta >= timedelta(hours=24):
            return None
        tz = timezone(-delta if offset[0] == "-" else delta)
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=tz,
        )
    except ValueError:
        return None


def _subtract_months(moment: datetime, months: int) -> Optional[datetime]:
    # Step one month at a time, clamping the day, so March 31 - 2m is January 28.
    current = moment.year * 12 + moment.month - 1
    target = current - months
    year, month = target // 12, target % 12 + 1
    if not 1 <= year <= 9999:
        return None
    day = moment.day
    for index in range(current - 1, target - 1, -1):
        if day <= 28:
            break
        day = min(day, calendar.monthrange(index // 12, index % 12 + 1)[1])
    return moment.replace(year=year, month=month, day=day)


def _subtract_years(moment: datetime, years: int) -> Optional[datetime]:
    year = moment.year - years
    if not 1 <= year <= 9999:
        return None
    day = 28 if years > 0 and (moment.month, moment.day) == (2, 29) else moment.day
    return moment.replace(year=year, day=day)


def _relative_resolver(number: int, unit: str) -> Callable[[datetime], Optional[datetime]]:
    if unit in "hdw":
        delta = {"h": timedelta(hours=number), "d": timedelta(days=number)}.get(
            unit, timedelta(weeks=number)
        )

        def shift(now: datetime) -> Optional[datetime]:
            try:
                return now - delta
            except OverflowError:
                return None

        return shift
    if unit == "m":
        return lambda now: _subtract_months(now, number)
    return lambda now: _subtract_years(now, number)


def compile_date(before: bool) -> Compiler:
    def compile_date(value: Any, version: int) -> Optional[Matcher]:
        text = str(value)
        relative = _RELATIVE.fullmatch(text)
        resolve: Callable[[Optional[datetime]], Optional[datetime]]
        if relative is not None:
            number, unit = int(relative.group(1)), relative.group(2)
            if number >= 10_000 or unit not in "hdwmy":
                return None
            shift = _relative_resolver(number, unit)

            def resolve_relative(now: Optional[datetime]) -> Optional[datetime]:
                if now is None:
                    now = datetime.now(timezone.utc)
                elif now.tzinfo is None:
                    now = now.replace(tzinfo=timezone.utc)
                return shift(now)

            resolve = resolve_relative
        else:
            fixed = parse_datetime(text)
            if fixed is None:
                return None
            resolve = lambda now: fixed  # noqa: E731

        def match_date(prop: Any, now: Optional[datetime]) -> Optional[bool]:
            if prop is None:
                return False
            boundary = resolve(now)
            if boundary is None:
                return None
            if isinstance(prop, datetime):
                moment = prop if prop.tzinfo is not None else prop.replace(tzinfo=timezone.utc)
                return moment < boundary if before else moment > boundary
            if isinstance(prop, date):
                day = boundary.date()
                return prop < day if before else prop > day
            if isinstance(prop, str):
                parsed = parse_datetime(prop, now=now)
                if parsed is None:
                    return None
                return parsed < boundary if before else parsed > boundary
            return None

        return match_date

    return compile_date
