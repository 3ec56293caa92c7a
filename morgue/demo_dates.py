"""Serve the demo site "as of" another day: every date it shows moves by the same number of days.

The bundled Harbour Gazette was written in November 2026. A crawler judges freshness against today
(``recrawl_within``, ``since``, a sitemap's ``lastmod``), so a demo run in 2028 against pages dated 2026
would show nothing being re-checked. ``morgue demo`` therefore serves the site shifted so that its newest
article is from today: the dates in pages (JSON-LD, ``<time>``, meta tags, the dateline's "28 November
2026"), sitemaps (``lastmod``, ``news:publication_date``), feeds (RFC 822 and ISO dates), the copyright
year, and the dated paths of article URLs (``/news/2026/11/x.html`` becomes the month of the article's
shifted publication date; requests for the new path are answered from the original file). Tests that
assert on the site's literal paths and dates serve it unshifted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

__all__ = ["DateShift", "newest_date"]

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_ABBR = [m[:3] for m in _MONTHS]
_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

# One pass over the text with one pattern, so that nothing is moved twice ("31 May 2028", which a moved
# RFC 822 date can read as, is also a long-form date).
_MONTH_NAMES = "|".join(_MONTHS).encode()
_DATE = re.compile(
    rb"(?P<rfc822>\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (?P<rd>\d{1,2}) (?P<rm>" + "|".join(_ABBR).encode()
    + rb") (?P<ry>\d{4})\b)"
    rb"|(?P<long>\b(?P<ld>\d{1,2}) (?P<lm>" + _MONTH_NAMES + rb") (?P<ly>\d{4})\b)"
    rb"|(?P<iso>(?<![\d-])(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})(?!\d))"
    rb"|(?P<path>/(?P<py>\d{4})/(?P<pm>\d{2})/(?P<slug>[A-Za-z0-9_-]*))"
    rb"|(?P<copyright>(?P<sign>&copy;|\xc2\xa9) (?P<cy>\d{4})\b)"
)
_DATED_PATH = re.compile(rb"/(\d{4})/(\d{2})/([A-Za-z0-9_-]*)")
_PUBLISHED = re.compile(r'"datePublished"\s*:\s*"([^"]+)"')
_MODIFIED = re.compile(r'"dateModified"\s*:\s*"([^"]+)"')


def _instants(root: Path, pattern: re.Pattern[str]) -> dict[Path, datetime]:
    """The JSON-LD date of each dated article file (``<section>/YYYY/MM/<slug>.html``) under root."""
    found: dict[Path, datetime] = {}
    for page in root.glob("**/[0-9][0-9][0-9][0-9]/[0-9][0-9]/*.html"):
        match = pattern.search(page.read_text(encoding="utf-8", errors="replace"))
        if match:
            found[page] = datetime.fromisoformat(match.group(1)).astimezone(UTC)
    return found


def newest_date(root: Path) -> datetime | None:
    """The latest publication or modification instant of the site's articles (None: no dated article)."""
    instants = [*_instants(root, _PUBLISHED).values(), *_instants(root, _MODIFIED).values()]
    return max(instants, default=None)


@dataclass
class DateShift:
    """Moves every date of a site by ``days`` and maps its dated article paths to the shifted months."""

    days: int
    #: years added to a year that stands alone (the copyright line): those of the newest article
    years: int = 0
    #: dated path key ("/2026/11/slug") -> the shifted one, for the articles whose date is known
    paths: dict[bytes, bytes] = field(default_factory=dict)

    @classmethod
    def as_of(cls, root: Path, moment: datetime) -> DateShift:
        """The shift that makes the site's newest article at most a day old at ``moment``."""
        newest = newest_date(root)
        if newest is None:
            return cls(0)
        days = (moment.astimezone(UTC) - newest) // timedelta(days=1)
        shift = cls(days, (newest + timedelta(days=days)).year - newest.year)
        for page, published in _instants(root, _PUBLISHED).items():
            year, month, slug = page.parts[-3], page.parts[-2], page.stem
            moved = (published + timedelta(days=days)).date()
            old = f"/{year}/{month}/{slug}".encode()
            shift.paths[old] = f"/{moved.year:04d}/{moved.month:02d}/{slug}".encode()
        return shift

    # -- serving ------------------------------------------------------------------------------------------

    def apply(self, text: bytes) -> bytes:
        """The text with every date and dated path moved."""
        if not self.days:
            return text
        return _DATE.sub(self._substitute, text)

    def original_path(self, path: str) -> str | None:
        """The file path behind a requested URL path; None for an original path the shift moved away
        (a real site no longer answers its pre-shift address)."""
        if not self.days:
            return path
        match = _DATED_PATH.search(path.encode())
        if match is None:
            return path
        key = match.group(0)
        originals = {new: old for old, new in self.paths.items()}
        if key in originals:
            return path[: match.start()] + originals[key].decode() + path[match.end():]
        return None if key in self.paths else path

    # -- the substitutions --------------------------------------------------------------------------------

    def _moved(self, year: int, month: int, day: int) -> date | None:
        try:
            return date(year, month, day) + timedelta(days=self.days)
        except ValueError:  # not a calendar date: leave it alone
            return None

    def _substitute(self, m: re.Match[bytes]) -> bytes:
        kind = m.lastgroup
        if kind == "path":
            return self._path(m.group(0), int(m["py"]), int(m["pm"]), m["slug"])
        if kind == "copyright":
            return m["sign"] + b" " + str(int(m["cy"]) + self.years).encode()
        if kind == "rfc822":
            moved = self._moved(int(m["ry"]), _ABBR.index(m["rm"].decode()) + 1, int(m["rd"]))
            text = None if moved is None else (
                f"{_DAYS[moved.weekday()]}, {moved.day:02d} {_ABBR[moved.month - 1]} {moved.year}")
        elif kind == "long":
            moved = self._moved(int(m["ly"]), _MONTHS.index(m["lm"].decode()) + 1, int(m["ld"]))
            text = None if moved is None else f"{moved.day} {_MONTHS[moved.month - 1]} {moved.year}"
        else:
            moved = self._moved(int(m["iy"]), int(m["im"]), int(m["id"]))
            text = None if moved is None else moved.isoformat()
        return m.group(0) if text is None else text.encode()

    def _path(self, key: bytes, year: int, month: int, slug: bytes) -> bytes:
        if key in self.paths:
            return self.paths[key]
        moved = self._moved(year, month, 15)  # an undated link: mid-month
        return key if moved is None else f"/{moved.year:04d}/{moved.month:02d}/".encode() + slug
