#!/usr/bin/env python3
"""Deterministic synthetic news-post corpus for benchmarking and testing build_db.py.

Usage::

    python bench/generate.py OUTDIR --count N [--seed S] [--workers W]

writes N Markdown posts to ``OUTDIR/<yyyy>/<mm>/<code>.md`` (year and month of
the post's ``date``) and prints the number of posts and the total number of
bytes written.  ``--workers`` (default: the number of CPUs) only changes how
fast the files appear, never their content.

Why a generator instead of a checked-in sample: the importer has to be measured
at sizes (10^5 posts and more) that nobody wants in the repository, and its edge
cases (odd category casing, captions with brackets, links to other posts written
in several ways, missing images...) need to be present in known, repeatable
proportions.  Everything is derived from ``random.Random`` instances seeded from
``(seed, post index)``, never from the clock, ``uuid`` or ``hash()``, so the same
arguments always produce byte-identical files (for a given Python minor version)
and a benchmark result can be reproduced or bisected.

The file format copies the specimen post in ``shared/seed-post.md`` exactly:

* frontmatter keys ``layout, code, origin_url, image, title, description,
  category, language, date`` in that order, every key always present (a post
  "without image" or "without description" has an empty string there);
  ``title`` is always ``""`` and ``date`` is an unquoted ISO 8601 UTC timestamp
  with milliseconds;
* an empty ``# `` heading, then the real headline as the first body line;
* the lead photo only in ``image``; each inline photo is ``![caption](url)``
  followed by a paragraph repeating the caption;
* no newline at the end of the file.

Public API:

* :func:`post_meta` -- the identity of post *i* (code, URL, date, ...) as a
  pure function of ``(i, seed)``.  Links between posts rely on it: a post can
  link forward or backward to any other post of the corpus without the
  generator keeping the corpus in memory.
* :func:`render_post` -- ``(PostMeta, text)`` of one post, without writing it.
* :func:`generate` -- write a corpus, streaming one file at a time; returns
  ``(files, bytes)``.

Up to ``MAX_POSTS`` (9,000,000) posts: the 7-digit article numbers run out
after that.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

__all__ = ["PostMeta", "post_meta", "render_post", "generate", "main"]

# --------------------------------------------------------------------------
# Corpus-wide constants
# --------------------------------------------------------------------------

SITE = "https://www.harbourtimes.test"
IMAGE_HOST = "https://images.harbourtimes.test"

#: Posts are dated uniformly over five calendar years.
EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)
SPAN_MS = int((datetime(2025, 1, 1, tzinfo=timezone.utc) - EPOCH).total_seconds() * 1000)

#: URL section -> canonical category (the specimen has /world/ and "WORLD").
SECTIONS = ("news", "world", "business", "tech", "sports", "life", "opinion", "travel")
SECTION_WEIGHTS = (24, 18, 16, 10, 12, 9, 6, 5)

LANGUAGES = ("en", "th", "de")
LANGUAGE_WEIGHTS = (85, 10, 5)

#: Ranges of the two identifiers that must be unique across the corpus; both
#: come from a keyed permutation of the post index, so uniqueness is a
#: guarantee, not a probability.
_NUMBER_BASE = 1_000_000
_NUMBER_RANGE = 9_000_000            # 7-digit article numbers 1000000..9999999
_SUFFIX_RANGE = 36 ** 6              # 6 uppercase alphanumerics in the code
MAX_POSTS = _NUMBER_RANGE

def _table(values: Sequence, weights: Sequence[int]) -> tuple:
    """Expand small integer weights into a lookup tuple.

    ``table[int(rng.random() * len(table))]`` is a weighted draw several
    times cheaper than ``rng.choices(values, weights)[0]``, which matters
    in the per-post hot path.
    """
    return tuple(v for v, w in zip(values, weights) for _ in range(w))


def _draw(rng: random.Random, table: tuple):
    return table[int(rng.random() * len(table))]


_SECTION_TABLE = _table(SECTIONS, SECTION_WEIGHTS)
_LANGUAGE_TABLE = _table(LANGUAGES, LANGUAGE_WEIGHTS)
#: Sentences per paragraph, links per post, inline photos per post.
_PARA_SIZE_TABLE = _table((1, 2, 3, 4), (28, 40, 24, 8))
_LINKS_TABLE = _table((0, 1, 2, 3, 4), (22, 30, 26, 14, 8))
_PHOTOS_TABLE = _table((0, 1, 2, 3, 4, 5), (12, 38, 28, 12, 6, 4))

_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MASK64 = (1 << 64) - 1

# Independent random streams per post, so that e.g. changing how a body is
# written never changes the post's identity (and so the links pointing to it).
_STREAM_META = 1
_STREAM_BODY = 2
_STREAM_ALT_SLUG = 3
_STREAM_VOCAB = 4
_STREAM_NUMBER_KEY = 5
_STREAM_SUFFIX_KEY = 6


# --------------------------------------------------------------------------
# Deterministic hashing / permutations
# --------------------------------------------------------------------------

def _splitmix64(x: int) -> int:
    """One SplitMix64 step: a cheap, well-mixed 64-bit hash.

    Used instead of ``hash()`` (randomised per process for str) so per-post
    seeds are identical in every run and in every worker process.
    """
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _mix(*parts: int) -> int:
    """Fold integers into one 64-bit seed (order-sensitive)."""
    h = 0x243F6A8885A308D3
    for p in parts:
        h = _splitmix64(h ^ (p & _MASK64))
    return h


def _bijection(x: int, bits: int, k0: int, k1: int) -> int:
    """A keyed bijection of ``range(2**bits)``.

    Every step (xor with a constant, multiply by an odd constant, xor-shift
    right, add a constant -- all modulo 2**bits) is invertible, so the whole
    function is a permutation; the multiplications and shifts make
    neighbouring inputs land far apart.
    """
    mask = (1 << bits) - 1
    half = bits // 2
    x = (x ^ k0) & mask
    x = (x * 0x2545F491) & mask
    x ^= x >> half
    x = (x * 0x9E3779B1) & mask
    x ^= x >> (half - 3)
    x = (x + k1) & mask
    x = (x * 0x85EBCA6B) & mask
    x ^= x >> half
    return x


def _permute(i: int, n: int, bits: int, keys: Tuple[int, int]) -> int:
    """Map ``i`` in ``range(n)`` to a unique value in ``range(n)``.

    Cycle-walking: apply the 2**bits bijection until the value falls back
    inside ``range(n)``.  Restricting a permutation this way is itself a
    permutation, so distinct indexes always give distinct results -- which is
    what makes codes and article numbers unique without remembering the ones
    already handed out.  ``2**bits`` is less than twice ``n``, so this takes
    two rounds on average.
    """
    x = _bijection(i, bits, *keys)
    while x >= n:
        x = _bijection(x, bits, *keys)
    return x


@functools.lru_cache(maxsize=64)
def _perm_keys(seed: int, stream: int) -> Tuple[int, int]:
    k = _mix(seed, stream)
    return k & 0xFFFFFFFF, k >> 32


def _base36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_B36[r])
    return "".join(reversed(out))


# --------------------------------------------------------------------------
# Word lists (all text is built from these; no external data)
# --------------------------------------------------------------------------

FIRST_NAMES = (
    "Anan", "Somchai", "Nattaya", "Pimchanok", "Kittisak", "Wanida", "Siriporn",
    "Prasert", "Chalerm", "Ratana", "Maria", "James", "Sarah", "Daniel", "Laura",
    "Michael", "Elena", "Tomas", "Aiko", "Minh", "Jürgen", "Katrin", "Lukas",
    "Sabine", "Felix", "Nuraini", "Rafael", "Priya", "Chen", "Oluwaseun",
)
LAST_NAMES = (
    "Srisuk", "Wongsawat", "Chaiyaporn", "Boonmee", "Rattanakorn", "Saelim",
    "Thongdee", "Poomlard", "Jensen", "Okafor", "Moreau", "Tanaka", "Müller",
    "Schneider", "Fischer", "O'Brien", "García", "Nguyen", "Hartono", "Kaur",
    "Lindqvist", "Rossi", "Petrov", "Ibrahim", "Walsh", "Lim",
)
COMPANIES = (
    "Harbour Shipping Co", "Siam Meridian Bank", "Eastern Grid Energy",
    "BlueWave Telecom", "Coastal Air", "Northstar Logistics", "Golden Reef Resorts",
    "Pacific Rim Cement", "Lotus Digital", "Kestrel Motors", "Tidewater Foods",
)
UNIVERSITIES = (
    "Harbour City University", "the Institute of Marine Science",
    "Eastern Technical College", "the National Economic Institute",
)
PROVINCES = ("Phang Nga", "Nakhon Si Thammarat", "Chon Buri", "Songkhla", "Rayong", "Krabi", "Trang")
DISTRICTS = ("Old Quay", "Riverside", "Lantern Hill", "North Docks", "Salt Market", "Bayview", "Canal Street")
CITIES = (
    "Bangkok", "Singapore", "Hanoi", "Jakarta", "Tokyo", "Berlin", "London",
    "Washington", "Sydney", "Manila", "Kuala Lumpur", "Hamburg", "Harbour City",
)
COUNTRIES = ("Japan", "Vietnam", "Germany", "Australia", "Indonesia", "the United States", "China", "India", "Malaysia")
EVENTS = ("Harbour Marathon", "Lantern Festival", "regional trade fair", "Asian Cup qualifier", "Ocean Week summit")
TEAMS = ("Harbour City FC", "Port United", "Riverside Rangers", "Eastern Sharks", "Bayview Athletic")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December")
WHEN_EN = ("next month", "by the end of the year", "in the first quarter", "within 90 days",
           "next week", "before the rainy season", "early next year")
PUBLICATIONS = ("Harbour Herald", "Meridian Post", "Coastal Review", "Financial Tide")

AGENCIES = ("Reuters", "AFP", "AP", "Bloomberg", "EPA", "Xinhua")
AGENCY_WEIGHTS = (34, 24, 16, 8, 10, 8)

# ---- English -------------------------------------------------------------

SUBJECTS_EN = (
    "The Harbour City council", "The finance ministry", "The transport ministry",
    "The central bank", "Police", "Local fishermen", "Port operators", "Health officials",
    "The weather bureau", "Union leaders", "Election officials", "Investors",
    "The Supreme Court", "Hospital staff", "Environmental groups", "The foreign ministry",
    "Tourism operators", "Airline executives", "Customs officers", "The navy", "Teachers",
    "Small business owners", "The opposition", "Residents", "Rescue workers", "Analysts",
    "Government spokesman {name}", "Prime Minister {name}", "Finance Minister {name}",
    "Opposition leader {name}", "Police chief {name}", "{name}, the city's deputy mayor,",
    "{company}", "Researchers at {university}", "Farmers in {province}",
    "Residents of {district}", "Officials in {city}", "Shareholders of {company}",
    "Coach {name}", "Organisers of the {event}",
)
PREDICATES_EN = (
    "announced plans to expand the container terminal",
    "warned of higher prices for rice and cooking oil",
    "agreed to review the budget for flood defences",
    "said the new ferry route would open {when}",
    "rejected claims that the tender process had been rigged",
    "called for an independent inquiry into the collapse",
    "confirmed that {n} people had been taken to hospital",
    "reported a {pct}% rise in quarterly profit",
    "cut its growth forecast to {pct}%",
    "signed a memorandum of understanding with {company}",
    "postponed the vote on the harbour bridge",
    "launched a campaign against illegal fishing",
    "urged residents to stay indoors",
    "said the shortfall would be covered by emergency funds",
    "unveiled a {money} plan to modernise the railway",
    "denied any wrongdoing",
    "promised to publish the findings {when}",
    "raised the benchmark interest rate by {bp} basis points",
    "kept the benchmark rate at {pct}%",
    "expects visitor numbers to recover {when}",
    "sealed off the area around the old pier",
    "won the final {score}",
    "lost {score} to {team}",
    "named {name} as the new chief executive",
    "accused the government of ignoring the warnings",
    "filed a complaint with the anti-graft agency",
    "approved a {money} budget for the new hospital wing",
    "said talks with {country} had made progress",
    "has struggled to fill vacancies since the pandemic",
    "plans to hire {n} more staff",
    "detained {n} suspects",
    "recorded {n} millimetres of rain overnight",
    "cleared the way for the sale of the shipyard",
    "suspended flights to {city}",
    "launched an app that lets commuters track buses in real time",
    "reported a data breach affecting {n} customers",
    "is expected to announce its decision {when}",
    "said prices at the night market had doubled since {year}",
)
TAILS_EN = (
    "on {day}", "late on {day}", "earlier this week", "last month",
    "after a two-hour meeting", "according to a statement",
    "despite objections from environmental groups", "ahead of the rainy season",
    "citing concerns over public safety", "in a move welcomed by business groups",
    "amid growing pressure from lawmakers", "following weeks of negotiations",
    "for the third year in a row", "according to people familiar with the matter",
    "at a press conference in {city}", "in a post on social media",
    "after heavy rain flooded parts of {district}", "while critics called the move premature",
)
#: Tails carrying _italic_ markup; drawn rarely (see _ITALIC_RATE).
ITALIC_TAILS_EN = ("in an interview with the _{publication}_", "as first reported by the _{publication}_")
QUOTES_EN = (
    "We are doing everything we can to keep the public safe",
    "This is a difficult decision, but it is the right one",
    "Nobody told us anything until the water was already in our homes",
    "The numbers speak for themselves",
    "We expect a full recovery by the end of next year",
    "It is far too early to talk about compensation",
    "Our members cannot wait another six months",
    "The harbour is the heart of this city and it needs investment",
    "We will not comment on an ongoing investigation",
    "Prices have gone up every single week",
)
ROLES_EN = (
    "a spokesperson for the port authority", "the city's deputy mayor",
    "an analyst at {company}", "the head of the fishermen's association",
    "a resident of {district}", "a senior official at the finance ministry",
    "chief executive of {company}", "a lecturer at {university}",
)
BACKGROUND_EN = (
    "The project was first proposed in {year} but stalled for lack of funding.",
    "About {n} people live in the area, most of them in low-rise housing.",
    "The harbour handled {n} containers last year, according to official data.",
    "Similar measures were introduced in {city} in {year}.",
    "The decision comes as the government faces criticism over rising living costs.",
    "The agency did not respond to a request for comment.",
    "Officials said more details would be released {when}.",
    "The company's shares fell {pct}% in early trading.",
    "The ministry has set aside {money} for the first phase.",
    "Critics say the plan does little to help low-income households.",
    "The last major flood in {district} was in {year}.",
    "Turnout was estimated at {pct}%, slightly higher than at the previous vote.",
)
DATELINES_EN = ("HARBOUR CITY", "BANGKOK", "SINGAPORE", "WASHINGTON", "TOKYO", "BERLIN", "JAKARTA", "LONDON")

HL_ACTORS_EN = (
    "Port authority", "City council", "Finance ministry", "Central bank", "Police",
    "Fishermen", "Union", "Investors", "Court", "Health officials", "Opposition",
    "Residents", "Airline", "Tourism board", "Regulator", "{company}", "PM", "Governor",
    "Teachers", "Farmers",
)
HL_VERBS_EN = ("approves", "rejects", "delays", "warns over", "backs", "scraps", "unveils",
               "probes", "defends", "questions", "welcomes", "slams", "eyes", "extends", "halts")
HL_TAILS_EN = ("", "", "", " after talks", " amid protests", " in {city}", " despite criticism",
               " as costs rise", " for {year2}")
HL_TOPICS_EN = {
    "news": ("new ferry terminal", "flood defence budget", "harbour bridge plan", "bus fare rise",
             "night market rules", "school meal scheme", "landfill expansion", "water tariff",
             "curfew in {district}", "street vendor ban"),
    "world": ("ceasefire talks", "sanctions on {country}", "trade pact with {country}",
              "aid for {country}", "summit in {city}", "border deal", "refugee quota", "climate pledge"),
    "business": ("rate cut", "bank merger", "{company} takeover bid", "export tax", "fuel subsidy",
                 "minimum wage rise", "stock listing", "rice price cap"),
    "tech": ("5G rollout", "data privacy bill", "{company} app", "chip plant", "AI rules",
             "e-wallet scheme", "cyber-security law", "ride-hailing rules"),
    "sports": ("stadium upgrade", "coach's contract", "marathon route", "{team} transfer",
               "ticket prices", "doping tests", "youth league"),
    "life": ("food festival", "museum reopening", "heritage walk", "street art project",
             "vegan menu", "lantern parade", "night ferry tours"),
    "opinion": ("the housing crisis", "cheap fuel", "the harbour bridge", "online schooling",
                "political reform", "street food culture"),
    "travel": ("visa-free entry", "island ferry routes", "new airport terminal", "beach closures",
               "hotel tax", "cruise ship ban", "e-visa scheme"),
}
HL_TRENDS_EN = ("Rice prices", "Fuel costs", "Ferry fares", "Tourist arrivals", "Exports",
                "Home prices", "Shares", "Hotel bookings")
HL_MOVES_EN = ("climb", "slip", "surge", "fall", "hold steady", "hit record")
HL_CAUSES_EN = ("drought bites", "demand recovers", "baht strengthens", "rains return",
                "holiday season begins", "investors turn cautious")
HL_ACCIDENTS_EN = ("bus overturns", "fire guts warehouse", "ferry runs aground",
                   "wall collapses", "gas cylinder explodes")

CAPTION_SUBJECTS_EN = (  # (text, is_plural)
    ("Rescue workers", True), ("A fisherman", False), ("Commuters", True),
    ("Protesters", True), ("Finance Minister {name}", False), ("Supporters of {team}", True),
    ("Tourists", True), ("Volunteers", True), ("A street vendor", False),
    ("Police officers", True), ("A resident", False), ("Students", True),
    ("Opposition leader {name}", False),
)
#: Subjects with parentheses or brackets inside the caption, which a credit
#: parser looking for "(...)" must not mistake for the credit.  Drawn with
#: probability _ODD_CAPTION_RATE.
CAPTION_SUBJECTS_ODD_EN = (
    ("Members of the Harbour Workers' Union (HWU)", True),
    ("Prime Minister {name} (centre)", False),
    ("[From left] {name}, {name} and {name}", True),
    ("Finance Minister {name} (right) and {name} (left)", True),
)
CAPTION_ACTIONS_EN = (  # (plural verb phrase, singular verb phrase)
    ("search through debris", "searches through debris"),
    ("wait for a ferry", "waits for a ferry"),
    ("march towards Government House", "marches towards Government House"),
    ("speak to reporters", "speaks to reporters"),
    ("celebrate a goal", "celebrates a goal"),
    ("unload the morning catch", "unloads the morning catch"),
    ("walk through a flooded street", "walks through a flooded street"),
    ("inspect the damage", "inspects the damage"),
    ("hold up banners reading \"Save our harbour\"", "holds up a banner reading \"Save our harbour\""),
    ("pose for a photo", "poses for a photo"),
    ("clean up the beach", "cleans up the beach"),
    ("take part in a rehearsal", "takes part in a rehearsal"),
)
CAPTION_PLACES_EN = ("at the North Docks", "in {district}", "in {province} province",
                     "outside the parliament building", "near the old pier", "in {city}",
                     "at the {team} stadium")
CAPTION_TIMES_EN = ("on {day}", "on {day}", "on {month} {dom}, {year}", "last year", "earlier this month")
CAPTION_EXTRAS_EN = ("The storm left {n} people without power.",
                     "Organisers expect {n} visitors this year.",
                     "Prices have risen by {pct}% since {year}.")
SUBHEADS_EN = ("What happens next", "Rising costs", "Background", "A long road",
               "Reaction from the industry", "What the numbers show", "Safety concerns",
               "Looking ahead", "Questions remain", "The view from {district}")
LIST_INTROS_EN = ("Key points of the plan include:", "The measures announced on {day} include:",
                  "According to the ministry, the package contains:")
LIST_ITEMS_EN = ("a {pct}% cut in ferry fares for students", "new bus lanes on Harbour Road",
                 "free health checks for fishermen", "an extra {money} for flood defences",
                 "longer opening hours at the central market",
                 "a ban on single-use plastic at the beaches", "tax breaks for small businesses",
                 "{n} new police officers for {district}", "a review of water tariffs {when}")
READ_MORE_EN = "**Read more:**"
UPDATE_EN = "**Update:**"

# ---- Thai ----------------------------------------------------------------

FIRST_NAMES_TH = ("สมชาย", "นัฐยา", "กิตติศักดิ์", "วนิดา", "ประเสริฐ", "ศิริพร", "อนันต์", "รัตนา")
LAST_NAMES_TH = ("ศรีสุข", "วงศ์สวัสดิ์", "บุญมี", "ทองดี", "ชัยพร", "แซ่ลิ้ม", "รัตนากร")
CITIES_TH = ("กรุงเทพฯ", "สิงคโปร์", "ฮานอย", "จาการ์ตา", "โตเกียว", "เบอร์ลิน", "ภูเก็ต", "เชียงใหม่")
SUBJECTS_TH = ("รัฐบาล", "กระทรวงการคลัง", "ตำรวจ", "การท่าเรือ", "กรมอุตุนิยมวิทยา",
               "ธนาคารกลาง", "ชาวประมงในพื้นที่", "ผู้ว่าราชการจังหวัด", "สหภาพแรงงาน",
               "นักลงทุน", "เจ้าหน้าที่สาธารณสุข", "นาย{name}", "นาง{name}", "ชาวบ้านใน{city}")
PREDICATES_TH = ("ประกาศแผนขยายท่าเรือตู้สินค้า", "เตือนว่าราคาข้าวและน้ำมันพืชอาจสูงขึ้น",
                 "เห็นชอบให้ทบทวนงบประมาณป้องกันน้ำท่วม", "ยืนยันว่ามีผู้ได้รับบาดเจ็บ {n} ราย",
                 "รายงานว่ากำไรไตรมาสล่าสุดเพิ่มขึ้นร้อยละ {pct}", "เรียกร้องให้มีการสอบสวนอย่างเป็นอิสระ",
                 "ปฏิเสธว่าไม่ได้กระทำผิด", "ขอให้ประชาชนอยู่ในที่พัก", "เลื่อนการลงมติเรื่องสะพานข้ามอ่าว",
                 "เปิดตัวแอปพลิเคชันติดตามรถโดยสาร", "จับกุมผู้ต้องสงสัย {n} ราย",
                 "ระงับเที่ยวบินไปยัง{city}", "คาดว่าจำนวนนักท่องเที่ยวจะฟื้นตัวภายในสิ้นปี")
TAILS_TH = ("เมื่อวันจันทร์", "เมื่อวันอังคาร", "เมื่อวันพุธ", "เมื่อวันพฤหัสบดี", "เมื่อวันศุกร์",
            "เมื่อสัปดาห์ที่แล้ว", "หลังการประชุมนานสองชั่วโมง", "ตามแถลงการณ์ที่เผยแพร่เมื่อคืนวันศุกร์",
            "ท่ามกลางเสียงคัดค้านจากกลุ่มอนุรักษ์สิ่งแวดล้อม", "ก่อนเข้าสู่ฤดูฝน",
            "โดยอ้างถึงความปลอดภัยของประชาชน")
ITALIC_TAILS_TH = ("ตามรายงานของ _หนังสือพิมพ์ฮาร์เบอร์_",)
QUOTES_TH = ("เรากำลังทำทุกอย่างเพื่อความปลอดภัยของประชาชน", "นี่เป็นการตัดสินใจที่ยาก แต่ถูกต้อง",
             "ราคาสินค้าขึ้นทุกสัปดาห์", "ยังเร็วเกินไปที่จะพูดถึงค่าชดเชย")
# Headline parts as (Thai, English gloss): the gloss becomes the ASCII slug,
# as Thai-language news sites commonly use English slugs.
HL_ACTORS_TH = (("รัฐบาล", "government"), ("คลัง", "finance ministry"), ("ตำรวจ", "police"),
                ("การท่าเรือ", "port authority"), ("ธนาคารกลาง", "central bank"),
                ("ชาวประมง", "fishermen"), ("ผู้ว่าฯ", "governor"), ("สหภาพ", "union"),
                ("ศาล", "court"), ("นักลงทุน", "investors"))
HL_VERBS_TH = (("ประกาศแผน", "announces plan for"), ("เตือนเรื่อง", "warns over"),
               ("อนุมัติงบ", "approves budget for"), ("เลื่อน", "delays"),
               ("เปิดตัว", "launches"), ("ค้าน", "opposes"), ("สอบ", "probes"))
HL_TOPICS_TH = (("ขยายท่าเรือ", "port expansion"), ("ราคาน้ำมัน", "fuel prices"),
                ("ป้องกันน้ำท่วม", "flood defences"), ("รถไฟฟ้าสายใหม่", "new rail line"),
                ("การท่องเที่ยว", "tourism"), ("ค่าครองชีพ", "cost of living"),
                ("ประมงผิดกฎหมาย", "illegal fishing"), ("สะพานข้ามอ่าว", "harbour bridge"),
                ("ตลาดหุ้น", "stock market"), ("วีซ่าท่องเที่ยว", "tourist visas"))
HL_TAILS_TH = (("", ""), ("", ""), (" หลังประชุม", "after meeting"), (" ท่ามกลางเสียงค้าน", "amid protests"))
CAPTIONS_TH = ("เจ้าหน้าที่กู้ภัยค้นหาผู้รอดชีวิตท่ามกลางซากปรักหักพัง", "ชาวประมงขนปลาขึ้นจากเรือที่ท่าเรือ",
               "ผู้ชุมนุมถือป้ายประท้วงหน้าทำเนียบรัฐบาล", "นักท่องเที่ยวเดินชมตลาดน้ำ",
               "รถติดบนถนนสุขุมวิทหลังฝนตกหนัก")
CAPTIONS_ODD_TH = ("นาย{name} (กลาง) ให้สัมภาษณ์ผู้สื่อข่าว", "[จากซ้าย] นาย{name} และนาง{name} ร่วมงานแถลงข่าว")
CAPTION_TIMES_TH = (" เมื่อวันจันทร์", " เมื่อวันศุกร์", " เมื่อปีที่แล้ว", "")
SUBHEADS_TH = ("ขั้นตอนต่อไป", "ความเป็นมา", "ปฏิกิริยาจากภาคธุรกิจ", "ตัวเลขที่น่าสนใจ")
LIST_INTROS_TH = ("มาตรการสำคัญ ได้แก่", "รายละเอียดของแผนมีดังนี้")
LIST_ITEMS_TH = ("ลดค่าโดยสารเรือร้อยละ {pct}", "เพิ่มช่องทางเดินรถประจำทาง", "ตรวจสุขภาพฟรีสำหรับชาวประมง",
                 "งบประมาณเพิ่มเติม {n} ล้านบาทสำหรับป้องกันน้ำท่วม", "ขยายเวลาเปิดตลาดกลาง")
READ_MORE_TH = "**อ่านเพิ่มเติม:**"
UPDATE_TH = "**อัปเดต:**"

# ---- German --------------------------------------------------------------

SUBJECTS_DE = ("Der Stadtrat von Harbour City", "Das Finanzministerium", "Die Hafenbehörde",
               "Die Polizei", "Die Zentralbank", "Örtliche Fischer", "Die Gesundheitsbehörde",
               "Der Wetterdienst", "Gewerkschaftsvertreter", "Anleger", "Das Oberste Gericht",
               "Umweltverbände", "Ministerpräsident {name}", "Oppositionsführerin {name}",
               "Anwohner in {district}", "{company}", "Forscher in {city}")
PREDICATES_DE = ("kündigte Pläne für den Ausbau des Containerterminals an",
                 "warnte vor steigenden Preisen für Reis und Speiseöl",
                 "will das Budget für den Hochwasserschutz überprüfen",
                 "bestätigte, dass {n} Menschen ins Krankenhaus gebracht wurden",
                 "meldete einen Gewinnanstieg von {pct} Prozent",
                 "senkte die Wachstumsprognose auf {pct} Prozent",
                 "forderte eine unabhängige Untersuchung des Einsturzes",
                 "wies alle Vorwürfe zurück", "verschob die Abstimmung über die Hafenbrücke",
                 "rief die Bewohner dazu auf, zu Hause zu bleiben",
                 "stellte einen Plan zur Modernisierung der Bahn vor",
                 "nahm {n} Verdächtige fest", "setzte alle Flüge nach {city} aus",
                 "hob den Leitzins um {bp} Basispunkte an")
TAILS_DE = (", wie aus einer Mitteilung hervorgeht", " – trotz Einwänden von Umweltverbänden",
            ", teilte die Behörde am {day_de} mit",
            " – nach wochenlangen Verhandlungen", ", hieß es aus Regierungskreisen")
ITALIC_TAILS_DE = (", berichtete die _Hafenzeitung_",)
QUOTES_DE = ("Wir tun alles, um die Menschen zu schützen", "Das ist eine schwierige, aber richtige Entscheidung",
             "Die Preise steigen jede Woche", "Für Entschädigungen ist es noch viel zu früh")
DAYS_DE = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
HL_ACTORS_DE = ("Hafenbehörde", "Stadtrat", "Zentralbank", "Polizei", "Regierung", "Fischer",
                "Gewerkschaft", "Anleger", "Gericht")
HL_PREDICATES_DE = ("warnt vor steigenden Preisen", "verschiebt Abstimmung über Hafenbrücke",
                    "erhöht Leitzins", "plant neue Fährverbindung", "fordert Untersuchung",
                    "meldet Rekordgewinn", "stoppt Flüge nach {city}", "prüft Hochwasserschutz")
HL_TAILS_DE = ("", "", " nach Protesten", " trotz Kritik", " in {city}")
CAPTIONS_DE = ("Rettungskräfte suchen in den Trümmern nach Überlebenden",
               "Ein Fischer entlädt seinen Fang am Hafen", "Demonstranten ziehen vor das Parlament",
               "Pendler warten auf eine Fähre")
CAPTIONS_ODD_DE = ("Finanzminister {name} (Mitte) spricht mit Journalisten",
                   "[Von links] {name} und {name} bei der Pressekonferenz")
CAPTION_TIMES_DE = (" am {day_de}", " in {city}", " im vergangenen Jahr", "")
SUBHEADS_DE = ("Wie es weitergeht", "Hintergrund", "Steigende Kosten", "Reaktionen")
LIST_INTROS_DE = ("Zu den Maßnahmen gehören:", "Der Plan sieht Folgendes vor:")
LIST_ITEMS_DE = ("eine Senkung der Fährpreise um {pct} Prozent", "neue Busspuren an der Hafenstraße",
                 "kostenlose Gesundheitschecks für Fischer", "zusätzliche {n} Millionen Baht für den Hochwasserschutz",
                 "längere Öffnungszeiten am Zentralmarkt")
READ_MORE_DE = "**Mehr dazu:**"
UPDATE_DE = "**Aktualisierung:**"
DATELINES_DE = ("HARBOUR CITY", "BANGKOK", "BERLIN", "HAMBURG", "SINGAPUR")

EXTERNAL_LINK_FORMS = (
    "https://www.reuters.com/world/asia-pacific/{slug}-{ymd}/",
    "https://apnews.com/article/{slug}-{hex12}",
    "https://en.wikipedia.org/wiki/{wiki}",
    "https://www.harbourcity.go.test/news/{n}",
    "https://x.com/harbourcitygov/status/{status}",
    "https://www.youtube.com/watch?v={yt}",
    "https://data.harbourcity.go.test/datasets/{slug}.csv",
)
WIKI_TITLES = ("Harbour_City", "Container_terminal", "Monsoon", "Interest_rate", "Ferry",
               "Illegal,_unreported_and_unregulated_fishing", "Land_reclamation")


# --------------------------------------------------------------------------
# Vocabulary pools (built once per seed)
# --------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(\w+)\}")

#: Share of pool sentences with an _italic_ publication name: at ~30
#: sentences a post, about one post in six shows italics ("occasionally").
_ITALIC_RATE = 0.006
#: Share of captions with parentheses/brackets of their own ("some captions").
_ODD_CAPTION_RATE = 0.08


def _tail(rng: random.Random, tails: Sequence[str], italic: Sequence[str]) -> str:
    return rng.choice(italic if rng.random() < _ITALIC_RATE else tails)


def _int_text(r: random.Random) -> str:
    """A count: mostly small, sometimes in the thousands (with separators)."""
    return f"{r.choice((r.randint(2, 60), r.randint(60, 999), r.randint(1000, 250000))):,}"


def _tables(lang: str) -> Dict[str, Callable[[random.Random], str]]:
    """Placeholder name -> generator, for one language."""
    if lang == "th":
        name = lambda r: f"{r.choice(FIRST_NAMES_TH)} {r.choice(LAST_NAMES_TH)}"
        city = lambda r: r.choice(CITIES_TH)
    else:
        name = lambda r: f"{r.choice(FIRST_NAMES)} {r.choice(LAST_NAMES)}"
        city = lambda r: r.choice(CITIES)
    if lang == "de":
        # German writes 211.750 and 10,6 Prozent.
        n = lambda r: _int_text(r).replace(",", ".")
        pct = lambda r: f"{r.randint(2, 180) / 10:.1f}".replace(".", ",")
    else:
        n = _int_text
        pct = lambda r: f"{r.randint(2, 180) / 10:.1f}"
    return {
        "name": name,
        "city": city,
        "n": n,
        "pct": pct,
        "company": lambda r: r.choice(COMPANIES),
        "university": lambda r: r.choice(UNIVERSITIES),
        "province": lambda r: r.choice(PROVINCES),
        "district": lambda r: r.choice(DISTRICTS),
        "country": lambda r: r.choice(COUNTRIES),
        "event": lambda r: r.choice(EVENTS),
        "team": lambda r: r.choice(TEAMS),
        "publication": lambda r: r.choice(PUBLICATIONS),
        "day": lambda r: r.choice(WEEKDAYS),
        "day_de": lambda r: r.choice(DAYS_DE),
        "month": lambda r: r.choice(MONTHS),
        "dom": lambda r: str(r.randint(1, 28)),
        "when": lambda r: r.choice(WHEN_EN),
        "year": lambda r: str(r.randint(1998, 2019)),
        "year2": lambda r: str(r.randint(2021, 2027)),
        "bp": lambda r: r.choice(("25", "50", "75")),
        "money": lambda r: (f"{r.randint(2, 950)} million baht" if r.random() < 0.7
                            else f"{r.randint(11, 99) / 10:.1f} billion baht"),
        "score": lambda r: "{}-{}".format(*sorted((r.randint(0, 5), r.randint(0, 5)), reverse=True)),
    }


def _fill(rng: random.Random, template: str, tables: Dict[str, Callable[[random.Random], str]]) -> str:
    if "{" not in template:
        return template
    return _PLACEHOLDER.sub(lambda m: tables[m.group(1)](rng), template)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


_SLUG_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "í": "i",
                                "'": None, "’": None})
_SLUG_JUNK = re.compile(r"[^a-z0-9]+")


def _slugify(text: str, limit: int = 90) -> str:
    """Lower-case ASCII slug, cut at a hyphen so it stays readable."""
    s = _SLUG_JUNK.sub("-", text.lower().translate(_SLUG_TRANSLIT)).strip("-")
    if len(s) > limit:
        s = s[:limit].rsplit("-", 1)[0]
    return s or "story"


def _credit(rng: random.Random, tables) -> str:
    """A photo credit: agency (Photo/File photo), staff photographer, or none (~5%)."""
    r = rng.random()
    if r < 0.05:
        return ""
    if r < 0.25:
        kind = "File photo by" if rng.random() < 0.2 else "Photo by"
        return f" ({kind} {tables['name'](rng)})"
    kind = "File photo" if rng.random() < 0.22 else "Photo"
    return f" ({kind}: {rng.choices(AGENCIES, AGENCY_WEIGHTS)[0]})"


class _Lang:
    """Pre-built text pools for one language.

    Bodies are assembled by picking whole sentences from these pools rather
    than word by word: that keeps 10^5 posts (~50M words) to a few million
    random draws, which is what makes the generator fast enough to stream a
    large corpus in seconds.
    """

    __slots__ = ("code", "sentence_texts", "sentence_words", "headlines", "captions", "subheads", "list_intros",
                 "list_items", "datelines", "read_more", "update", "span", "tables")

    def __init__(self, code: str):
        self.code = code
        self.sentence_texts: List[str] = []
        self.sentence_words: List[int] = []     # parallel to sentence_texts
        self.headlines: Dict[str, List[Tuple[str, str]]] = {s: [] for s in SECTIONS}
        self.captions: List[str] = []
        self.subheads: List[str] = []
        self.list_intros: List[str] = []
        self.list_items: List[str] = []
        self.datelines: Sequence[str] = ()
        self.read_more = ""
        self.update = ""
        self.span = (2, 5)          # words wrapped by an inline link
        self.tables = _tables(code)

    def add_sentence(self, text: str) -> None:
        self.sentence_texts.append(text)
        self.sentence_words.append(_word_count(text, self.code))


def _word_count(text: str, lang: str) -> int:
    # Thai has no spaces between words; ~5 characters per word is close enough
    # to hit the 150-900 word target by volume.
    return max(1, len(text) // 5) if lang == "th" else text.count(" ") + 1


def _build_en(rng: random.Random) -> _Lang:
    L = _Lang("en")
    t = L.tables
    for _ in range(6000):
        r = rng.random()
        if r < 0.72:
            s = f"{_fill(rng, rng.choice(SUBJECTS_EN), t)} {_fill(rng, rng.choice(PREDICATES_EN), t)}"
            if rng.random() < 0.65:
                s += " " + _fill(rng, _tail(rng, TAILS_EN, ITALIC_TAILS_EN), t)
            s += "."
        elif r < 0.86:
            q = rng.choice(QUOTES_EN)
            who = f"{t['name'](rng)}, {_fill(rng, rng.choice(ROLES_EN), t)}"
            s = f'"{q}," {who}, said.' if rng.random() < 0.6 else f'"{q}," said {who}.'
        else:
            s = _fill(rng, rng.choice(BACKGROUND_EN), t)
        L.add_sentence(s)
    for section in SECTIONS:
        pool = L.headlines[section]
        for _ in range(1500):
            r = rng.random()
            if r < 0.62:
                h = (f"{_fill(rng, rng.choice(HL_ACTORS_EN), t)} {rng.choice(HL_VERBS_EN)} "
                     f"{_fill(rng, rng.choice(HL_TOPICS_EN[section]), t)}"
                     f"{_fill(rng, rng.choice(HL_TAILS_EN), t)}")
            elif r < 0.78:
                h = f"{rng.choice(HL_TRENDS_EN)} {rng.choice(HL_MOVES_EN)} as {rng.choice(HL_CAUSES_EN)}"
            elif r < 0.88:
                h = f"{t['n'](rng)} hurt as {rng.choice(HL_ACCIDENTS_EN)} in {t['district'](rng)}"
            elif section == "sports":
                a, b = rng.sample(TEAMS, 2)
                h = f"{a} beat {b} {t['score'](rng)}"
            elif section == "opinion":
                h = rng.choice(("Why {} matters", "Time to rethink {}", "The truth about {}")).format(
                    _fill(rng, rng.choice(HL_TOPICS_EN[section]), t))
            else:
                h = f"'{rng.choice(QUOTES_EN)}', says {rng.choice(('mayor', 'minister', 'union chief', 'CEO'))}"
            h = _cap(h)
            pool.append((h, _slugify(h)))
    for _ in range(3000):
        subj, plural = rng.choice(CAPTION_SUBJECTS_ODD_EN if rng.random() < _ODD_CAPTION_RATE
                                  else CAPTION_SUBJECTS_EN)
        act = rng.choice(CAPTION_ACTIONS_EN)[0 if plural else 1]
        c = (f"{_fill(rng, subj, t)} {act} {_fill(rng, rng.choice(CAPTION_PLACES_EN), t)} "
             f"{_fill(rng, rng.choice(CAPTION_TIMES_EN), t)}.")
        if rng.random() < 0.2:
            c += " " + _fill(rng, rng.choice(CAPTION_EXTRAS_EN), t)
        L.captions.append(c + _credit(rng, t))
    L.subheads = [_fill(rng, s, t) for s in SUBHEADS_EN]
    L.list_intros = [_fill(rng, s, t) for s in LIST_INTROS_EN for _ in range(3)]
    L.list_items = [_fill(rng, s, t) for s in LIST_ITEMS_EN for _ in range(5)]
    L.datelines = DATELINES_EN
    L.read_more, L.update = READ_MORE_EN, UPDATE_EN
    return L


def _build_th(rng: random.Random) -> _Lang:
    L = _Lang("th")
    t = L.tables
    for _ in range(1500):
        if rng.random() < 0.85:
            s = _fill(rng, rng.choice(SUBJECTS_TH), t) + _fill(rng, rng.choice(PREDICATES_TH), t)
            if rng.random() < 0.7:
                s += " " + _tail(rng, TAILS_TH, ITALIC_TAILS_TH)
        else:
            s = f'"{rng.choice(QUOTES_TH)}" นาย{t["name"](rng)} กล่าว'
        L.add_sentence(s)
    for section in SECTIONS:
        pool = L.headlines[section]
        for _ in range(300):
            a, v, p, tl = (rng.choice(HL_ACTORS_TH), rng.choice(HL_VERBS_TH),
                           rng.choice(HL_TOPICS_TH), rng.choice(HL_TAILS_TH))
            h = a[0] + v[0] + p[0] + tl[0]
            pool.append((h, _slugify(" ".join(x for x in (a[1], v[1], p[1], tl[1]) if x))))
    credit_tables = _tables("en")     # photographers are credited in Latin script
    for _ in range(600):
        c = rng.choice(CAPTIONS_ODD_TH if rng.random() < _ODD_CAPTION_RATE else CAPTIONS_TH)
        c = _fill(rng, c, t) + rng.choice(CAPTION_TIMES_TH)
        L.captions.append(c + _credit(rng, credit_tables))
    L.subheads = list(SUBHEADS_TH)
    L.list_intros = list(LIST_INTROS_TH)
    L.list_items = [_fill(rng, s, t) for s in LIST_ITEMS_TH for _ in range(3)]
    L.datelines = ()
    L.read_more, L.update = READ_MORE_TH, UPDATE_TH
    L.span = (1, 1)       # Thai "words" are whole space-separated phrases
    return L


def _build_de(rng: random.Random) -> _Lang:
    L = _Lang("de")
    t = L.tables
    for _ in range(1500):
        if rng.random() < 0.85:
            s = f"{_fill(rng, rng.choice(SUBJECTS_DE), t)} {_fill(rng, rng.choice(PREDICATES_DE), t)}"
            if rng.random() < 0.5:
                s += _fill(rng, _tail(rng, TAILS_DE, ITALIC_TAILS_DE), t)
            s += "."
        else:
            s = f'„{rng.choice(QUOTES_DE)}“, sagte {t["name"](rng)}.'
        L.add_sentence(s)
    for section in SECTIONS:
        pool = L.headlines[section]
        for _ in range(300):
            h = (f"{rng.choice(HL_ACTORS_DE)} {_fill(rng, rng.choice(HL_PREDICATES_DE), t)}"
                 f"{_fill(rng, rng.choice(HL_TAILS_DE), t)}")
            pool.append((h, _slugify(h)))
    for _ in range(600):
        c = rng.choice(CAPTIONS_ODD_DE if rng.random() < _ODD_CAPTION_RATE else CAPTIONS_DE)
        c = _fill(rng, c, t) + _fill(rng, rng.choice(CAPTION_TIMES_DE), t) + "."
        L.captions.append(c + _credit(rng, t))
    L.subheads = list(SUBHEADS_DE)
    L.list_intros = list(LIST_INTROS_DE)
    L.list_items = [_fill(rng, s, t) for s in LIST_ITEMS_DE for _ in range(3)]
    L.datelines = DATELINES_DE
    L.read_more, L.update = READ_MORE_DE, UPDATE_DE
    return L


@functools.lru_cache(maxsize=8)
def _vocab(seed: int) -> Dict[str, _Lang]:
    """Text pools for a seed.  Cached: built once (~0.1 s) per process."""
    rng = random.Random(_mix(seed, _STREAM_VOCAB))
    return {"en": _build_en(rng), "th": _build_th(rng), "de": _build_de(rng)}


# --------------------------------------------------------------------------
# Post identity
# --------------------------------------------------------------------------

class PostMeta(NamedTuple):
    """Identity of one generated post -- everything other posts may link to."""

    index: int
    code: str            #: "ART" + YYMMDDHHMM + 6 alphanumerics; unique
    origin_url: str      #: canonical https URL; unique
    date: datetime       #: aware UTC datetime (millisecond precision)
    date_text: str       #: as written in the frontmatter, e.g. 2024-11-20T07:00:34.861Z
    section: str         #: URL section, e.g. "world"
    category: str        #: frontmatter category, usually "WORLD", sometimes " World "
    language: str        #: "en", "th" or "de"
    headline: str
    slug: str
    number: int          #: the 7-digit article number in the URL
    relpath: str         #: "<yyyy>/<mm>/<code>.md", relative to the output folder


def _odd_case(rng: random.Random, category: str) -> str:
    """~6% of categories are written the way hand-edited frontmatter drifts."""
    if rng.random() >= 0.06:
        return category
    return rng.choice((category.lower(), category.title(), f" {category.title()} ",
                       f"{category} ", f" {category.lower()}"))


def post_meta(i: int, seed: int = 42) -> PostMeta:
    """Return the identity of post ``i`` of the corpus generated with ``seed``.

    A pure function of ``(i, seed)`` -- it does not depend on the corpus size --
    so any post can compute the URL of any other post (forward or backward)
    while the generator streams.  Codes and article numbers come from keyed
    permutations of ``i`` and are therefore unique for ``i < MAX_POSTS``.
    """
    if not 0 <= i < MAX_POSTS:
        raise ValueError(f"post index must be in [0, {MAX_POSTS}), got {i}")
    rng = random.Random(_mix(seed, i, _STREAM_META))
    date = EPOCH + timedelta(milliseconds=rng.randrange(SPAN_MS))
    # The code is stamped when the post was created, a few minutes before it
    # was published (specimen: code ...0656, date 07:00:34.861).
    ct = date - timedelta(seconds=rng.randint(60, 720))
    suffix = _base36(_permute(i, _SUFFIX_RANGE, 32, _perm_keys(seed, _STREAM_SUFFIX_KEY)), 6)
    code = f"ART{ct.year % 100:02d}{ct.month:02d}{ct.day:02d}{ct.hour:02d}{ct.minute:02d}{suffix}"
    section = _draw(rng, _SECTION_TABLE)
    category = _odd_case(rng, section.upper())
    language = _draw(rng, _LANGUAGE_TABLE)
    headline, slug = rng.choice(_vocab(seed)[language].headlines[section])
    number = _NUMBER_BASE + _permute(i, _NUMBER_RANGE, 24, _perm_keys(seed, _STREAM_NUMBER_KEY))
    date_text = (f"{date.year:04d}-{date.month:02d}-{date.day:02d}T{date.hour:02d}:"
                 f"{date.minute:02d}:{date.second:02d}.{date.microsecond // 1000:03d}Z")
    return PostMeta(
        index=i, code=code, origin_url=f"{SITE}/{section}/{number}/{slug}", date=date,
        date_text=date_text, section=section, category=category, language=language,
        headline=headline, slug=slug, number=number,
        relpath=f"{date.year:04d}/{date.month:02d}/{code}.md",
    )


# --------------------------------------------------------------------------
# Post body
# --------------------------------------------------------------------------

_UNLINKABLE = frozenset('[]()_*"„“')
_TRAILING_PUNCT = ".,;:!?"
_MARKUP = re.compile(r"\*\*|(?<!\w)_|_(?!\w)")


def _yaml_str(s: str) -> str:
    """Escape for a YAML double-quoted scalar (only \\ and " can occur here)."""
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _image_url(rng: random.Random, date: datetime) -> str:
    return f"{IMAGE_HOST}/{date.year:04d}/{date.month:02d}/{rng.getrandbits(128):032x}.jpg"


def _description(lead: str, limit: int = 280) -> str:
    """First paragraph, cut at a word boundary like the specimen's (which
    stops mid-sentence without punctuation), markup removed."""
    text = _MARKUP.sub("", lead)
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(_TRAILING_PUNCT + " ,—–-")


def _internal_url(rng: random.Random, target: PostMeta, seed: int) -> str:
    """Link to another post, written the ways real archives write them."""
    url = target.origin_url
    r = rng.random()
    if r < 0.12:                                   # slug changed after publication
        parts = target.slug.split("-")
        if len(parts) > 3 and rng.random() < 0.5:
            alt = "-".join(parts[:3])
        else:
            alt_rng = random.Random(_mix(seed, target.index, _STREAM_ALT_SLUG))
            alt = alt_rng.choice(_vocab(seed)["en"].headlines[target.section])[1]
            if alt == target.slug:
                alt += "-update"
        url = f"{SITE}/{target.section}/{target.number}/{alt}"
    elif r < 0.22:
        url = "http://" + url[len("https://"):]
    elif r < 0.32:
        url += "/"
    elif r < 0.36:
        url = "http://" + url[len("https://"):] + "/"
    return url


def _external_url(rng: random.Random, date: datetime) -> str:
    form = rng.choice(EXTERNAL_LINK_FORMS)
    words = rng.sample(("harbour", "ferry", "flood", "budget", "port", "rates", "fishing",
                        "tourism", "court", "election", "storm", "exports"), 3)
    return form.format(
        slug="-".join(words), ymd=f"{date.year:04d}-{date.month:02d}-{date.day:02d}",
        hex12=f"{rng.getrandbits(48):012x}", wiki=rng.choice(WIKI_TITLES),
        n=rng.randint(1000, 99999), status=rng.randint(10 ** 18, 2 * 10 ** 18),
        yt="".join(rng.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789-_")
                   for _ in range(11)),
    )


def _wrap_link(rng: random.Random, paras: List[List[str]], first: int, url: str,
               span: Tuple[int, int]) -> bool:
    """Turn a few plain words of a body sentence into ``[words](url)``.

    Words next to quotes, emphasis or earlier links are avoided, so the result
    is always well-formed Markdown.  Returns False if no spot was found.
    """
    for _ in range(6):
        p = rng.randrange(first, len(paras))
        sents = paras[p]
        s = rng.randrange(len(sents))
        tokens = sents[s].split(" ")
        k = min(rng.randint(*span), len(tokens))
        start = rng.randrange(len(tokens) - k + 1)
        chunk = tokens[start:start + k]
        if any(not tok or _UNLINKABLE.intersection(tok) for tok in chunk):
            continue
        last = chunk[-1]
        core = last.rstrip(_TRAILING_PUNCT)
        if not core:
            continue
        chunk[-1] = core
        tokens[start:start + k] = [f"[{' '.join(chunk)}]({url}){last[len(core):]}"]
        sents[s] = " ".join(tokens)
        return True
    return False


def render_post(i: int, count: int, seed: int = 42) -> Tuple[PostMeta, str]:
    """Return ``(meta, text)`` for post ``i`` of a ``count``-post corpus.

    ``count`` only bounds which other posts may be linked to; everything else
    about post ``i`` is the same whatever the corpus size.
    """
    meta = post_meta(i, seed)
    L = _vocab(seed)[meta.language]
    rng = random.Random(_mix(seed, i, _STREAM_BODY))

    # -- paragraphs, as lists of sentences so links can be woven in later
    target = int(rng.triangular(150, 900, 380))
    paras: List[List[str]] = []
    words = 0
    rand = rng.random
    texts, counts = L.sentence_texts, L.sentence_words
    n_sent, n_sizes = len(texts), len(_PARA_SIZE_TABLE)
    while words < target:           # hot loop: plain rng.random() draws only
        para = []
        for _ in range(_PARA_SIZE_TABLE[int(rand() * n_sizes)]):
            j = int(rand() * n_sent)
            para.append(texts[j])
            words += counts[j]
        paras.append(para)
    if L.datelines and rng.random() < 0.55:
        paras[0][0] = f"{rng.choice(L.datelines)} — {paras[0][0]}"
    lead = " ".join(paras[0])
    if rng.random() < 0.02:
        description = ""
    else:
        description = _description(lead)

    # -- links: ~60% to other posts of this corpus, the rest external
    extra: List[Tuple[int, str]] = []          # (insert after paragraph, block)
    first_linkable = 1 if len(paras) > 1 else 0
    for _ in range(_draw(rng, _LINKS_TABLE)):
        if count > 1 and rng.random() < 0.6:
            j = rng.randrange(count - 1)
            other = post_meta(j + (j >= i), seed)
            url = _internal_url(rng, other, seed)
            if rng.random() < 0.18:
                extra.append((rng.randrange(len(paras)), f"{L.read_more} [{other.headline}]({url})"))
                continue
        else:
            url = _external_url(rng, meta.date)
        if not _wrap_link(rng, paras, first_linkable, url, L.span):
            extra.append((len(paras) - 1, f"{L.read_more} [{url}]({url})"))

    blocks: List[str] = []
    for p in paras:
        text = " ".join(p)
        if rng.random() < 0.03:
            text += " "                             # stray trailing space, as in the specimen
        blocks.append(text)
    # Insert extras from the back so earlier positions stay valid.
    for pos, block in sorted(extra, key=lambda e: e[0], reverse=True):
        blocks.insert(pos + 1, block)

    # -- structure: subheadings, a bullet list, an update note
    if len(blocks) >= 6 and rng.random() < 0.3:
        for pos in sorted(rng.sample(range(2, len(blocks)), rng.randint(1, 2)), reverse=True):
            blocks.insert(pos, "## " + rng.choice(L.subheads))
    if len(blocks) >= 3 and rng.random() < 0.15:
        items = rng.sample(L.list_items, rng.randint(3, 5))
        blocks.insert(rng.randint(1, len(blocks)),
                      rng.choice(L.list_intros) + "\n\n" + "\n".join("- " + it for it in items))
    if rng.random() < 0.03:
        blocks.append(f"{L.update} {rng.choice(L.sentence_texts)}")

    # -- inline photos: caption as alt text, then repeated as a paragraph
    n_photos = _draw(rng, _PHOTOS_TABLE)
    for k in range(n_photos):
        caption = rng.choice(L.captions)
        pos = 0 if (k == 0 and rng.random() < 0.45) else rng.randint(1, len(blocks))
        blocks.insert(pos, f"![{caption}]({_image_url(rng, meta.date)})\n\n{caption}")

    image = "" if rng.random() < 0.03 else _image_url(rng, meta.date)
    head = (
        "---\n"
        "layout: post\n"
        f'code: "{meta.code}"\n'
        f'origin_url: "{_yaml_str(meta.origin_url)}"\n'
        f'image: "{image}"\n'
        'title: ""\n'
        f'description: "{_yaml_str(description)}"\n'
        f'category: "{_yaml_str(meta.category)}"\n'
        f'language: "{meta.language}"\n'
        f"date: {meta.date_text}\n"
        "---\n"
        "\n"
        "# \n"
        "\n"
    )
    # No newline at end of file, like the specimen.
    return meta, head + meta.headline + "\n\n" + "\n\n".join(blocks)


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------

def _write_range(outdir: str, start: int, stop: int, count: int, seed: int) -> Tuple[int, int]:
    """Write posts ``start..stop-1``, one file at a time; return (files, bytes)."""
    made = set()
    files = nbytes = 0
    for i in range(start, stop):
        meta, text = render_post(i, count, seed)
        data = text.encode("utf-8")
        folder = os.path.join(outdir, meta.relpath[:7])
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(os.path.join(outdir, meta.relpath), "wb") as fh:
            fh.write(data)
        files += 1
        nbytes += len(data)
    return files, nbytes


def _write_chunk(args: Tuple[str, int, int, int, int]) -> Tuple[int, int]:
    return _write_range(*args)


def generate(outdir: str, count: int, seed: int = 42, workers: int = 1) -> Tuple[int, int]:
    """Write ``count`` posts under ``outdir``; return ``(files, bytes)``.

    Posts are produced and written one at a time, so memory use does not grow
    with ``count``.  ``workers > 1`` splits the index range over processes;
    because every post depends only on ``(i, seed)`` the files are identical
    whatever the number of workers.  Existing files with the same names are
    overwritten; other files in ``outdir`` are left alone.
    """
    if count < 0 or count > MAX_POSTS:
        raise ValueError(f"count must be in [0, {MAX_POSTS}]")
    os.makedirs(outdir, exist_ok=True)
    _vocab(seed)                      # build pools before forking, so workers inherit them
    if workers <= 1 or count < 2000:
        return _write_range(outdir, 0, count, count, seed)

    import multiprocessing

    n_chunks = workers * 8
    bounds = [count * k // n_chunks for k in range(n_chunks + 1)]
    jobs = [(outdir, bounds[k], bounds[k + 1], count, seed) for k in range(n_chunks)]
    with multiprocessing.Pool(workers) as pool:
        results = pool.map(_write_chunk, jobs)
    return sum(r[0] for r in results), sum(r[1] for r in results)


def _non_empty(folder: str) -> bool:
    with os.scandir(folder) as entries:
        return any(True for _ in entries)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a deterministic synthetic corpus of news posts "
                    "(Markdown + YAML frontmatter) for benchmarking build_db.py.")
    parser.add_argument("outdir", help="output folder; posts go to OUTDIR/<yyyy>/<mm>/<code>.md")
    parser.add_argument("--count", type=int, required=True, help="number of posts")
    parser.add_argument("--seed", type=int, default=42, help="corpus seed (default: 42)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes to use; the output is identical for any value "
                             "(default: number of CPUs)")
    args = parser.parse_args(argv)
    if os.path.isdir(args.outdir) and _non_empty(args.outdir):
        print(f"warning: {args.outdir} is not empty; files from earlier runs are kept",
              file=sys.stderr)
    t0 = time.perf_counter()
    files, nbytes = generate(args.outdir, args.count, args.seed, args.workers)
    print(f"{files} posts, {nbytes} bytes")
    print(f"generated in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
