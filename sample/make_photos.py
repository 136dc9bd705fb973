"""Generate sample/photos/: a local mirror of the photos the sample posts show.

The sample posts in sample/posts/ point at photos on https://images.harbourtimes.test/
(in the frontmatter ``image:`` value and as Markdown images ``![caption](url)`` in
the body).  That host does not exist, so this script writes a stand-in JPEG for
every such URL, at the same path under sample/photos/:

    https://images.harbourtimes.test/2024/11/some-name.jpg
        -> sample/photos/2024/11/some-name.jpg

Each picture is 480x320, an abstract "photo-like" landscape (sky, sea and land
gradients, a sun or moon, hills and soft clouds, a little film grain) whose
colours and layout come from a random generator seeded with the file name, so
running the script again gives the same pictures.  The file stem is written small
in the bottom-left corner so that one can tell which URL a picture stands for.
JPEG quality 70 keeps each file around 10-20 KB.

The frontmatter is read with python-frontmatter and the bodies are parsed with
markdown-it-py (both project dependencies), so reference-style Markdown images
count too; only URLs starting with https://images.harbourtimes.test/ are mirrored.

This is a dev-time tool: it needs Pillow, which is *not* a dependency of the
project (the committed photos are all that the project uses).  To regenerate:

    .venv/bin/pip install pillow
    .venv/bin/python sample/make_photos.py

Options: ``--posts DIR`` and ``--out DIR`` (defaults: sample/posts and
sample/photos next to this script), ``--check`` to only report missing photos
(exit status 1 if any are missing) without writing anything.
"""
from __future__ import annotations

import argparse
import colorsys
import hashlib
import math
import random
import sys
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import frontmatter
from markdown_it import MarkdownIt

PREFIX = "https://images.harbourtimes.test/"
WIDTH, HEIGHT = 480, 320
QUALITY = 70

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------- #
# Finding the URLs
# --------------------------------------------------------------------------- #

def _markdown_image_urls(tokens) -> list[str]:
    """The ``src`` of every image token, descending into inline children."""
    urls = []
    for token in tokens:
        if token.type == "image":
            urls.append(token.attrGet("src") or "")
        if token.children:
            urls.extend(_markdown_image_urls(token.children))
    return urls


def _read_text(path: Path) -> str:
    """A post's text: UTF-8 with or without a BOM (or UTF-16 with one), LF newlines."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        text = data.decode("utf-8-sig")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def find_photo_urls(posts_dir: Path) -> dict[str, list[Path]]:
    """Every https://images.harbourtimes.test/ URL in the posts -> the posts using it.

    Looks at the frontmatter ``image:`` value and at the Markdown images of the body
    (parsed with markdown-it-py, so reference-style images count too).
    """
    md = MarkdownIt("commonmark")
    found: dict[str, list[Path]] = {}
    for path in sorted(posts_dir.rglob("*.md")):
        post = frontmatter.loads(_read_text(path))
        candidates = []
        image = post.metadata.get("image")
        if isinstance(image, str):
            candidates.append(image)
        candidates.extend(_markdown_image_urls(md.parse(post.content)))
        for url in candidates:
            url = url.strip()
            if url.startswith(PREFIX):
                found.setdefault(url, []).append(path)
    return found


def local_path(url: str, out_dir: Path) -> Path:
    """Where the mirror of ``url`` lives: the URL path (no query) under ``out_dir``."""
    parts = PurePosixPath(unquote(urlsplit(url).path)).parts
    parts = [p for p in parts if p not in ("/", "")]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"unusable photo URL: {url}")
    return out_dir.joinpath(*parts)


# --------------------------------------------------------------------------- #
# Drawing a picture
# --------------------------------------------------------------------------- #

def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, max(0.0, min(1.0, s)), max(0.0, min(1.0, v)))
    return round(r * 255), round(g * 255), round(b * 255)


def _mix(a, b, t: float) -> tuple[int, int, int]:
    """Colour ``a`` moved a fraction ``t`` of the way towards colour ``b``."""
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


def _vertical_gradient(size, top, bottom):
    """An RGB image going from colour ``top`` to colour ``bottom``."""
    from PIL import Image

    w, h = size
    column = Image.new("RGB", (1, h))
    for y in range(h):
        column.putpixel((0, y), _mix(top, bottom, y / max(1, h - 1)))
    return column.resize((w, h))


def _smoothstep(t: float) -> float:
    t = max(0.0, min(1.0, t))
    return t * t * (3 - 2 * t)


def _ridge(rng: random.Random, base_y: float, height: float, start: float, end: float, soft: float,
           roughness: float = 0.8):
    """A wavy skyline rising up to ``height`` above ``base_y`` between x=start and x=end.

    Outside [start, end] the line sits on ``base_y``; it eases in and out over
    ``soft`` pixels, so hills and headlands taper off instead of ending in a cliff.
    ``roughness`` (0-1) is how much of the height is waves rather than a plateau.
    """
    waves = [(rng.uniform(0.6, 3.5), rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 1.0)) for _ in range(3)]
    total = sum(weight for _, _, weight in waves)
    points = []
    for x in range(-8, WIDTH + 16, 6):
        envelope = _smoothstep((x - start) / soft) * _smoothstep((end - x) / soft)
        wave = sum(wt * (0.55 + 0.45 * math.sin(ph + fr * x / WIDTH * 2 * math.pi)) for fr, ph, wt in waves)
        points.append((x, base_y - height * envelope * (1 - roughness + roughness * wave / total)))
    return points


def draw_photo(name: str):
    """A deterministic abstract seascape for the file name ``name`` (a PIL image)."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    rng = random.Random(hashlib.sha256(name.encode("utf-8")).digest())
    w, h = WIDTH, HEIGHT

    # The time of day sets the palette: sky hue, saturation and brightness.
    mood = rng.choice(["day", "day", "day", "golden", "dusk", "overcast", "dawn"])
    sky_h, sat, top_v, low_v = {
        "day": (rng.uniform(0.54, 0.61), rng.uniform(0.4, 0.6), 0.78, 0.97),
        "golden": (rng.uniform(0.06, 0.11), rng.uniform(0.4, 0.6), 0.9, 0.99),
        "dusk": (rng.uniform(0.68, 0.78), rng.uniform(0.35, 0.5), 0.45, 0.88),
        "dawn": (rng.uniform(0.93, 1.0), rng.uniform(0.2, 0.35), 0.75, 0.98),
        "overcast": (rng.uniform(0.52, 0.62), rng.uniform(0.05, 0.14), 0.72, 0.9),
    }[mood]
    sky_top = _rgb(sky_h, sat, top_v)
    haze = _rgb(sky_h + rng.uniform(-0.1, 0.1) if mood != "golden" else 0.1, sat * 0.4, low_v)
    horizon = round(rng.uniform(0.45, 0.62) * h)
    img = _vertical_gradient((w, h), sky_top, haze)

    # Sun (or moon at dusk): a soft disc inside a wide faint glow.
    sx, sy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.25, 0.8) * horizon
    r = rng.uniform(9, 18)
    sun = _rgb(0.12, 0.3, 1.0) if mood != "dusk" else _rgb(0.6, 0.05, 1.0)
    if mood != "overcast" or rng.random() < 0.4:
        for radius, alpha, blur in ((r * 5, 60, r * 2.5), (r, 240 if mood != "overcast" else 120, 1.5)):
            mask = Image.new("L", (w, h), 0)
            ImageDraw.Draw(mask).ellipse((sx - radius, sy - radius, sx + radius, sy + radius), fill=alpha)
            img.paste(sun, (0, 0, w, h), mask.filter(ImageFilter.GaussianBlur(blur)))

    # Soft clouds: clusters of pale ellipses, blurred.
    clouds = Image.new("L", (w, h), 0)
    cd = ImageDraw.Draw(clouds)
    for _ in range(rng.randint(1, 5) if mood != "overcast" else 8):
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(0.05, 0.7) * horizon
        for _ in range(rng.randint(3, 7)):
            rx, ry = rng.uniform(20, 60), rng.uniform(6, 16)
            ox, oy = rng.uniform(-50, 50), rng.uniform(-7, 7)
            cd.ellipse((cx + ox - rx, cy + oy - ry, cx + ox + rx, cy + oy + ry), fill=rng.randint(80, 170))
    cloud = _mix(_rgb(sky_h, sat * 0.12, 1.0), sun, 0.3 if mood in ("golden", "dawn") else 0.0)
    img.paste(cloud, (0, 0, w, h), clouds.filter(ImageFilter.GaussianBlur(8)))

    draw = ImageDraw.Draw(img)

    # Distant hills on the horizon, hazier (closer to the sky colour) the farther off.
    land_h = rng.choice([rng.uniform(0.22, 0.34), rng.uniform(0.22, 0.34), rng.uniform(0.07, 0.12), rng.uniform(0.62, 0.7)])
    land = _rgb(land_h, rng.uniform(0.35, 0.55), rng.uniform(0.35, 0.5))
    for haze_amount in sorted(rng.uniform(0.25, 0.7) for _ in range(rng.randint(1, 2)))[::-1]:
        start = rng.uniform(-0.3, 0.6) * w
        end = start + rng.uniform(0.3, 0.9) * w
        ridge = _ridge(rng, horizon + 1, rng.uniform(12, 55), start, end, rng.uniform(30, 90))
        draw.polygon(ridge + [(w + 16, horizon + 2), (-8, horizon + 2)], fill=_mix(land, haze, haze_amount))

    # Sea from the horizon down, darker towards the viewer, with the sun's glitter.
    sea_h = rng.uniform(0.5, 0.58)
    sea = _vertical_gradient(
        (w, h - horizon),
        _mix(_rgb(sea_h, sat * 0.6 + 0.15, low_v * 0.82), haze, 0.35),
        _rgb(sea_h + 0.03, sat * 0.7 + 0.3, low_v * 0.45),
    )
    img.paste(sea, (0, horizon))
    glint = _mix(sun, haze, 0.2)
    for _ in range(rng.randint(25, 50)):
        gy = horizon + 2 + (h - horizon) * rng.random() ** 1.5
        spread = 8 + (gy - horizon) * 0.35
        gx, length = sx + rng.gauss(0, spread), rng.uniform(3, 8) + (gy - horizon) * 0.12
        draw.line((gx - length, gy, gx + length, gy), fill=glint, width=1 if gy < horizon + 40 else 2)
    for _ in range(rng.randint(15, 30)):  # a few ripples all over
        gy = rng.uniform(horizon + 4, h)
        gx, length = rng.uniform(0, w), 4 + (gy - horizon) * 0.15
        draw.line((gx - length, gy, gx + length, gy), fill=_mix(haze, sky_top, 0.5), width=1)

    # Often a near headland or shore coming in from one side, dark and tapering.
    if rng.random() < 0.7:
        near = _mix(land, (10, 14, 20), rng.uniform(0.2, 0.5))
        reach = rng.uniform(0.3, 0.65) * w
        start, end = (-w, reach) if rng.random() < 0.5 else (w - reach, 2 * w)
        top = rng.uniform(0.1, 0.5) * (h - horizon)
        ridge = _ridge(rng, h + 4, (h - horizon) - top, start, end, rng.uniform(120, 220), roughness=0.3)
        draw.polygon(ridge + [(w + 16, h + 8), (-8, h + 8)], fill=near)

    # A slight blur and film grain make the flat shapes read as a (soft) photograph.
    img = img.filter(ImageFilter.GaussianBlur(1.0))
    noise = Image.frombytes("L", (w, h), rng.randbytes(w * h)).filter(ImageFilter.GaussianBlur(0.5))
    img = Image.blend(img, Image.merge("RGB", (noise, noise, noise)), 0.07)

    # Vignette: darken the corners a little.
    vignette = Image.new("L", (w, h), 0)
    ImageDraw.Draw(vignette).ellipse((-w * 0.15, -h * 0.2, w * 1.15, h * 1.2), fill=255)
    vignette = vignette.filter(ImageFilter.GaussianBlur(40)).point(lambda v: 165 + v * 90 // 255)
    img = Image.composite(img, Image.new("RGB", (w, h), (20, 20, 28)), vignette)

    # The file stem, small, on a dark band in the bottom-left corner.
    stem = PurePosixPath(name).stem
    font = ImageFont.load_default(size=11)
    draw = ImageDraw.Draw(img, "RGBA")
    left, top, right, bottom = draw.textbbox((0, 0), stem, font=font)
    pad = 4
    x0, y0 = 6, h - 6 - (bottom - top) - 2 * pad
    draw.rectangle((x0, y0, x0 + right - left + 2 * pad, h - 6), fill=(0, 0, 0, 120))
    draw.text((x0 + pad - left, y0 + pad - top), stem, font=font, fill=(255, 255, 255, 230))
    return img


# --------------------------------------------------------------------------- #

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=Path, default=HERE / "posts", help="posts to scan (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=HERE / "photos", help="where to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="only report URLs without a photo; write nothing")
    args = parser.parse_args(argv)

    urls = find_photo_urls(args.posts)
    missing = 0
    total = 0
    for url in sorted(urls):
        target = local_path(url, args.out)
        if args.check:
            if not target.is_file():
                missing += 1
                print(f"missing: {target}  ({url}, used by {', '.join(str(p) for p in urls[url])})")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        draw_photo(target.name).save(target, "JPEG", quality=QUALITY, optimize=True)
        total += target.stat().st_size

    if args.check:
        print(f"{len(urls)} photo URLs, {missing} missing")
        return 1 if missing else 0
    print(f"wrote {len(urls)} photos to {args.out} ({total / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
