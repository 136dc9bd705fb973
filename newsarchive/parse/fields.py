"""Field normalisers: one frontmatter or body value in, the form a column stores out.

Dates (ISO 8601 and what Jekyll also reads), the moment an article code encodes,
URLs and the keys that say two URLs name one article, lookup names, language tags,
tag lists, and the stable ids of images and captions. Pure functions.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import functools
import hashlib
import json
import posixpath
import re
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

from ..text.credits import collapse
from .reader import Post


#: Bits of an image's or caption's id: JavaScript's Number (a double) holds integers
#: exactly up to 2**53, and so do R, spreadsheets and every JSON reader that reads
#: numbers as doubles. The odds that two of n keys share an id are about n**2 / 2**54:
#: 1 in 1.8 million at 100,000 photos, 1 in 180 at 10 million (docs/schema.md).
ID_BITS = 53


@functools.lru_cache(maxsize=8192)
def hash_id(kind: str, key: str) -> int:
    """A stable positive id below 2**53 for an image or caption row, from its natural
    key, so a full build and any sequence of incremental builds give every row the same id.

    Cached: a photo or caption repeats across the posts that reuse it."""
    digest = hashlib.blake2b(f"{kind}\x00{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - ID_BITS)


def text_value(value) -> str | None:
    """A modeled text field: strings as written, numbers as text, anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


# Dates --------------------------------------------------------------------------

_CODE_TIME = re.compile(r"^[A-Za-z]{2,5}(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})")
FILE_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-")
_WRITTEN_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?!\d)")
_DATE_RX = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(?:(Z|z|UTC|GMT|[ECMP][SD]T)|([+-])(\d{1,2})(?::?(\d{2}))?)?$"
)
#: The North American zone names Jekyll (Ruby's Time.parse) reads in dates.
_ZONE_HOURS = {"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7}
#: Written-out dates (`October 11, 2016`, `11 October 2016`), also read by Jekyll.
_WORDY_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y")


#: The zone a date written without one is read in: archive.yml's `timezone`, else UTC.
#: Set per build (read_naive_dates_in) before the parser processes are forked, which
#: inherit it.
_naive_zone: dt.tzinfo = dt.timezone.utc


def read_naive_dates_in(zone: str | None) -> None:
    """Read dates written without a zone in the IANA zone `zone` (None: UTC), in this
    process and the parser processes it forks from now on."""
    global _naive_zone
    _naive_zone = ZoneInfo(zone) if zone else dt.timezone.utc


def naive_zone_name() -> str:
    """The IANA name of the zone naive dates are read in ("UTC" unless set)."""
    return getattr(_naive_zone, "key", "UTC")


def iso_utc(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds, the form the specimen uses."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    moment = moment.astimezone(dt.timezone.utc)
    # Not strftime: its %Y writes year 1 as "1", not "0001", and the text would not sort.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def parse_date(value) -> dt.datetime:
    """Parse a frontmatter date as the author wrote it, returned in UTC.

    Takes ISO 8601 and the looser forms Jekyll accepts (`2016-03-23 9:00:00 -4`,
    `2014-06-03 11:02:00 -0400`), then RFC 2822. A date or time written without a zone
    is read in the archive's zone (read_naive_dates_in; UTC unless set), as Jekyll reads
    it in its site's `timezone`: a date alone is midnight there. A wall time a clock
    change makes ambiguous or skips is read with the offset in force before the change
    (zoneinfo's fold=0). RFC 2822's `-0000` is UTC. Raises ValueError with a reason a
    person can act on, e.g. for 2024-02-30, for a UTC offset past 23:59, and for a
    moment that leaves years 1..9999 once moved to UTC (9999-12-31T23:00-05:00),
    where datetime itself would raise a bare OverflowError.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"date must be text like 2024-11-20T07:00:34.861Z, not {type(value).__name__}")
    text = str(value).strip()
    m = _DATE_RX.match(text)
    moment = _numeric_date(text, m) if m else _wordy_date(text)
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=_naive_zone)
    if moment is None:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            raise ValueError(f"date {text!r} is not a date (write it as ISO 8601, e.g. 2024-11-20T07:00:34.861Z)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
    try:
        return moment.astimezone(dt.timezone.utc)
    except OverflowError:
        raise ValueError(f"date {text!r} is out of range (outside the years 1 to 9999 in UTC)") from None


def _numeric_date(text: str, m: re.Match) -> dt.datetime:
    """The moment a _DATE_RX match names, with its zone when it has one."""
    year, month, day, hour, minute, second, fraction, utc, sign, off_h, off_m = m.groups()
    try:
        moment = dt.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
        )
        if utc in _ZONE_HOURS:
            moment = moment.replace(tzinfo=dt.timezone(dt.timedelta(hours=_ZONE_HOURS[utc])))
        elif utc:  # Z, UTC, GMT
            moment = moment.replace(tzinfo=dt.timezone.utc)
        if sign:
            if int(off_h) > 23 or int(off_m or 0) > 59:
                raise ValueError(f"UTC offset {sign}{off_h}:{off_m or '00'} is out of range")
            offset = dt.timedelta(hours=int(off_h), minutes=int(off_m or 0))
            moment = moment.replace(tzinfo=dt.timezone(offset if sign == "+" else -offset))
    except ValueError as exc:
        raise ValueError(f"date {text!r} is not a real date ({exc})") from None
    return moment


def _wordy_date(text: str) -> dt.datetime | None:
    """`October 11, 2016` and the like (English month names), or None."""
    for fmt in _WORDY_FORMATS:
        try:
            return dt.datetime.strptime(" ".join(text.split()), fmt)
        except ValueError:
            continue
    return None


def code_timestamp(code: str | None) -> dt.datetime | None:
    """`ART2411200656CLKM87` encodes 2024-11-20 06:56 (UTC); None when it encodes nothing."""
    if not code:
        return None
    m = _CODE_TIME.match(code)
    if not m:
        return None
    yy, mo, dd, hh, mi = (int(g) for g in m.groups())
    try:
        return dt.datetime(2000 + yy, mo, dd, hh, mi, tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def file_name_date(path: str) -> dt.datetime | None:
    """The day a `YYYY-MM-DD-slug.md` file name gives (midnight in the archive's zone,
    as Jekyll reads it), in UTC, or None."""
    m = FILE_DATE.match(posixpath.basename(path))
    if not m:
        return None
    try:
        return dt.datetime(*(int(g) for g in m.groups()), tzinfo=_naive_zone).astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):
        return None


# URLs ---------------------------------------------------------------------------

#: An absolute URL whose host and path urlsplit would read exactly so: a scheme, a
#: plain host name (no user, no IPv6 brackets) with an optional port, and nothing
#: urlsplit strips (tabs, line breaks). Most links are such; they skip urlsplit.
_SIMPLE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([A-Za-z0-9.-]+)(?::[0-9]*)?(/[^?#\t\r\n]*)?(?:[?#][^\t\r\n]*)?")
_ARTICLE_NUMBER = re.compile(r"^\d{5,}$")


def url_facts(url: str | None) -> tuple[str | None, str | None]:
    """(domain_of(url), url_key(url)) from one parse of the URL: the build asks for both."""
    if not url:
        return None, None
    url = url.strip()
    simple = _SIMPLE_URL.fullmatch(url)
    if simple:
        host, path = simple.group(1), simple.group(2) or ""
    else:
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return None, None
        path = parts.path
    if not host:
        return None, None
    host = host.lower()
    if host.startswith("www."):
        host = host[4:]
    for segment in path.split("/"):
        if _ARTICLE_NUMBER.match(segment):
            return host, f"{host}/{segment}"
    return host, f"{host}{path.rstrip('/')}".lower()


def domain_of(url: str | None) -> str | None:
    """Host of an absolute URL, lowercased, without a leading www."""
    return url_facts(url)[0]


def url_key(url: str | None) -> str | None:
    """The key that says two URLs name the same article.

    Scheme, `www.`, query, fragment, trailing slash and case are ignored; when the path
    holds an article number (5+ digits) the slug around it is ignored too, so
    `/world/2905487/old-slug` and `/world/2905487/new-slug/` match.
    """
    return url_facts(url)[1]


def resolve_url(base: str | None, url: str) -> str:
    """`url` made absolute against the post's own origin_url, when it is site-relative."""
    if not base or not url.startswith("/") or url.startswith("//"):
        return url
    try:
        return urljoin(base, url)
    except ValueError:
        return url


def site_path_key(url: str | None) -> str | None:
    """The key of a site-relative link (`/2015/07/08/openfec-api/`) in a post without
    an origin_url: the path in lower case, without query, fragment, trailing slash,
    `index.html` or `.html`, so the forms a Jekyll or Eleventy site serves match."""
    if not url or not url.startswith("/") or url.startswith("//"):
        return None
    path = url.split("#", 1)[0].split("?", 1)[0].lower()
    for suffix in ("/index.html", "/index.htm", ".html", ".htm"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return path.rstrip("/") or None


def post_site_path(post: Post) -> str | None:
    """Where a Jekyll or Eleventy site serves a post: its `permalink` (without
    placeholders), else `/YYYY/MM/DD/slug/` from a `YYYY-MM-DD-slug.md` file name,
    the date taken from the frontmatter `date` as written when it has one (the site
    does the same: 18F's `2015-02-24-x.md` with `date: 2015-03-03` is /2015/03/03/x/)."""
    permalink = text_value(post.meta.get("permalink"))
    if permalink and permalink.startswith("/") and ":" not in permalink:
        return permalink
    name = posixpath.basename(post.path)
    m = FILE_DATE.match(name)
    if not m:
        return None
    slug = name[m.end() :].rsplit(".", 1)[0]
    if not slug:
        return None
    written = _WRITTEN_DATE.match(text_value(post.meta.get("date")) or "")
    year, month, day = (written or m).groups()
    return f"/{year}/{month}/{day}/{slug}/"


# Names --------------------------------------------------------------------------


def normalize_name(value: str) -> str:
    """Lookup names (categories, tags): `WORLD`, ` world ` and `World` are one."""
    return collapse(value).lower()


def normalize_language(value: str) -> str:
    """BCP 47 casing: `EN` -> `en`, `es_pr` -> `es-PR`, `zh-hant-tw` -> `zh-Hant-TW`."""
    parts = [p for p in re.split(r"[-_\s]+", value.strip()) if p]
    out = []
    for i, part in enumerate(parts):
        if i == 0:
            out.append(part.lower())
        elif len(part) == 2 and part.isalpha():
            out.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        else:
            out.append(part.lower())
    return "-".join(out)


def split_list(value) -> list[str]:
    """Tags/categories as Jekyll reads them: a list, or a string split on commas or spaces."""
    if value is None:
        return []
    if isinstance(value, list):
        items = value
    elif isinstance(value, str):
        items = value.split(",") if "," in value else value.split()
    else:
        items = [value]
    out = []
    for item in items:
        if isinstance(item, (dict, list)) or item is None:
            continue
        name = normalize_name(item if isinstance(item, str) else json.dumps(item))
        if name and name not in out:
            out.append(name)
    return out
