"""Paint the four photo-like JPEGs of the shipped site, procedurally.

The site has no camera photos (and the build has no network), so the pictures
for the travel story are painted from gradients, fractal ridges, soft clouds
and grain. The output is deterministic for a given Pillow version.

Run it from the repository root with any Python that has Pillow; it is not
part of the service and no test runs it:

    python3 -m venv /tmp/imgvenv && /tmp/imgvenv/bin/pip install pillow
    /tmp/imgvenv/bin/python content_service/tools/make_images.py

It writes content_service/site/images/{coast,mountains,harbour,sunset}.jpg
(1024 x 683, each well under 200 KB) and content_service/site/favicon.ico.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

SITE = Path(__file__).resolve().parent.parent / "site"
W, H = 1024, 683
RGB = tuple[int, int, int]


def lerp(a: RGB, b: RGB, t: float) -> RGB:
    t = max(0.0, min(1.0, t))
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def gradient(size: tuple[int, int], stops: Sequence[tuple[float, RGB]]) -> Image.Image:
    """A vertical gradient through colour stops at relative heights 0..1."""
    w, h = size
    column = Image.new("RGB", (1, h))
    for y in range(h):
        t = y / max(h - 1, 1)
        for (t0, c0), (t1, c1) in itertools.pairwise(stops):
            if t0 <= t <= t1:
                column.putpixel((0, y), lerp(c0, c1, (t - t0) / max(t1 - t0, 1e-9)))
                break
    return column.resize((w, h))


def ridge(rng: random.Random, base: float, rough: float, width: int = W) -> list[float]:
    """A skyline by midpoint displacement: heights in pixels for x = 0..width."""
    points = [base + rng.uniform(-rough, rough) for _ in range(9)]
    amp = rough * 0.6
    while len(points) < width // 3:
        nxt: list[float] = []
        for a, b in itertools.pairwise(points):
            nxt += [a, (a + b) / 2 + rng.uniform(-amp, amp)]
        nxt.append(points[-1])
        points, amp = nxt, amp * 0.56
    step = width / (len(points) - 1)
    heights = []
    for x in range(width + 1):
        i = min(int(x / step), len(points) - 2)
        t = x / step - i
        heights.append(points[i] * (1 - t) + points[i + 1] * t)
    return heights


def fill_ridge(
    img: Image.Image, heights: list[float], color: RGB, shade: RGB | None = None
) -> None:
    """Fill below a skyline; optional vertical shading towards `shade`."""
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).polygon(
        [(0, img.height), *[(x, heights[x]) for x in range(img.width)], (img.width, img.height)],
        fill=255,
    )
    top = int(min(heights))
    layer = (
        gradient(img.size, [(0, color), (max(top / img.height, 0.0), color), (1, shade)])
        if shade
        else Image.new("RGB", img.size, color)
    )
    img.paste(layer, (0, 0), mask)


def glow(img: Image.Image, center: tuple[int, int], radius: int, color: RGB, power: float) -> None:
    """A soft light source (sun, moon) added on top of the sky."""
    halo = Image.new("RGB", img.size, (0, 0, 0))
    d = ImageDraw.Draw(halo)
    cx, cy = center
    for r in range(radius * 6, radius, -6):
        k = (1 - (r - radius) / (radius * 5)) ** 2 * power
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=lerp((0, 0, 0), color, k))
    halo = halo.filter(ImageFilter.GaussianBlur(radius // 2 + 4))
    ImageDraw.Draw(halo).ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=color)
    img.paste(ImageChops.add(img, halo.filter(ImageFilter.GaussianBlur(1.5))))


def clouds(
    img: Image.Image, rng: random.Random, count: int, band: tuple[int, int], tint: RGB
) -> None:
    mask = Image.new("L", img.size, 0)
    d = ImageDraw.Draw(mask)
    for _ in range(count):
        cx, cy = rng.randrange(-50, W + 50), rng.randrange(*band)
        for _ in range(rng.randrange(4, 9)):
            rx, ry = rng.randrange(40, 130), rng.randrange(10, 30)
            ox, oy = rng.randrange(-120, 120), rng.randrange(-12, 12)
            d.ellipse(
                (cx + ox - rx, cy + oy - ry, cx + ox + rx, cy + oy + ry),
                fill=rng.randrange(60, 150),
            )
    mask = mask.filter(ImageFilter.GaussianBlur(14))
    img.paste(Image.new("RGB", img.size, tint), (0, 0), mask)


def water(
    img: Image.Image, rng: random.Random, top: int, near: RGB, far: RGB, sparkle: RGB
) -> None:
    """Sea from `top` down: a gradient plus horizontal glints that widen nearby."""
    sea = gradient((W, H - top), [(0, far), (1, near)])
    d = ImageDraw.Draw(sea)
    for _ in range(900):
        y = int((rng.random() ** 1.6) * (H - top))
        length = 4 + y * rng.uniform(0.05, 0.25)
        x = rng.randrange(0, W)
        depth = y / (H - top)
        d.line((x, y, x + length, y), fill=lerp(sparkle, near, depth * 0.7 + rng.random() * 0.3))
    img.paste(sea.filter(ImageFilter.GaussianBlur(0.8)), (0, top))


def grain(img: Image.Image, rng: random.Random, amount: int = 10) -> Image.Image:
    """Film-like grain: a soft random field blended in, as real photos have."""
    noise = Image.effect_noise((W // 2, H // 2), 40).resize((W, H)).convert("RGB")
    noise = noise.filter(ImageFilter.GaussianBlur(0.6))
    return ImageChops.add(
        ImageChops.subtract(img, Image.new("RGB", img.size, (amount, amount, amount))),
        Image.eval(noise, lambda v: v * amount * 2 // 255),
    )


def coast(rng: random.Random) -> Image.Image:
    img = gradient((W, H), [(0, (88, 150, 206)), (0.45, (176, 212, 232)), (1, (200, 225, 235))])
    clouds(img, rng, 7, (40, 200), (250, 250, 252))
    horizon = 330
    fill_ridge(img, ridge(rng, horizon - 40, 25), (128, 150, 168))  # far headland
    water(img, rng, horizon, (28, 96, 120), (78, 142, 172), (220, 236, 242))
    # A cliff on the right with grass on top, and a beach curving in front.
    edge = ridge(rng, 0, 14)
    cliff = [
        min(float(H), horizon - 150 + ((W - x) / 470) ** 1.8 * 330 + edge[x])
        if x > 540
        else float(H)
        for x in range(W + 1)
    ]
    fill_ridge(img, cliff, (112, 96, 78), (70, 60, 50))
    grass = [h + 14 if h < H else H for h in cliff]
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).polygon(
        [*[(x, cliff[x]) for x in range(W + 1)], *[(x, grass[x]) for x in range(W, -1, -1)]],
        fill=255,
    )
    img.paste(Image.new("RGB", img.size, (96, 132, 64)), (0, 0), mask)
    beach = [H - 110 + 40 * math.sin(x / 260) + x * 0.06 for x in range(W + 1)]
    fill_ridge(img, beach, (222, 200, 160), (196, 170, 126))
    foam = ImageDraw.Draw(img)
    for x in range(0, W, 2):
        y = beach[x] + rng.uniform(-2, 1)
        foam.line((x, y - 2, x + 2, y - 1), fill=(240, 244, 244))
    return img


def mountains(rng: random.Random) -> Image.Image:
    img = gradient((W, H), [(0, (64, 118, 186)), (0.6, (168, 200, 226)), (1, (214, 226, 232))])
    clouds(img, rng, 4, (60, 170), (246, 247, 250))
    layers = [
        (250, 120, (150, 166, 190), (176, 190, 206)),
        (350, 80, (104, 122, 146), (138, 150, 166)),
        (450, 50, (70, 92, 84), (58, 76, 62)),
        (545, 30, (46, 70, 50), (34, 52, 38)),
    ]
    for i, (base, rough, color, shade) in enumerate(layers):
        heights = ridge(rng, base, rough)
        fill_ridge(img, heights, color, shade)
        if i == 0:
            # Snow on the highest, farthest peaks.
            snow = Image.new("L", img.size, 0)
            sd = ImageDraw.Draw(snow)
            line = min(heights) + 70
            for x in range(W):
                if heights[x] < line:
                    sd.line((x, heights[x], x, line + rng.uniform(-8, 8)), fill=230)
            img.paste(
                Image.new("RGB", img.size, (240, 244, 250)),
                (0, 0),
                snow.filter(ImageFilter.GaussianBlur(1.5)),
            )
    # Pines along the nearest slope.
    d = ImageDraw.Draw(img)
    for _ in range(160):
        x = rng.randrange(0, W)
        y = rng.randrange(560, H + 20)
        h = rng.randrange(28, 70) * (y / H)
        d.polygon(
            [(x, y - h), (x - h / 4, y), (x + h / 4, y)],
            fill=lerp((20, 44, 28), (40, 66, 40), rng.random()),
        )
    return img


def harbour(rng: random.Random) -> Image.Image:
    img = gradient((W, H), [(0, (120, 160, 204)), (0.5, (214, 200, 186)), (1, (226, 210, 190))])
    clouds(img, rng, 5, (30, 150), (252, 244, 236))
    fill_ridge(img, ridge(rng, 250, 35), (130, 146, 150), (118, 134, 136))
    quay = 430
    d = ImageDraw.Draw(img)
    palette = [
        (214, 120, 84),
        (232, 196, 120),
        (236, 232, 220),
        (140, 170, 190),
        (196, 92, 78),
        (226, 168, 104),
    ]
    x = -10
    while x < W:
        w = rng.randrange(48, 92)
        h = rng.randrange(70, 150)
        top = quay - h
        wall = rng.choice(palette)
        d.rectangle((x, top, x + w, quay), fill=wall)
        d.polygon(
            [(x - 4, top), (x + w / 2, top - rng.randrange(18, 34)), (x + w + 4, top)],
            fill=(150, 70, 52),
        )
        for wy in range(top + 14, quay - 20, 26):
            for wx in range(x + 8, x + w - 14, 20):
                d.rectangle((wx, wy, wx + 9, wy + 13), fill=lerp(wall, (40, 40, 52), 0.65))
        x += w + rng.randrange(0, 4)
    d.rectangle((0, quay, W, quay + 14), fill=(150, 140, 126))
    town = img.crop((0, 0, W, quay + 14))
    water(img, rng, quay + 14, (36, 82, 96), (86, 128, 136), (230, 220, 200))
    # The town mirrored in the water, rippled and dimmed.
    mirror = town.transpose(Image.Transpose.FLIP_TOP_BOTTOM).crop((0, 0, W, H - quay - 14))
    rows = [
        mirror.crop((0, y, W, y + 1)).transform(
            (W, 1), Image.Transform.AFFINE, (1, 0, rng.uniform(-6, 6), 0, 1, 0)
        )
        for y in range(mirror.height)
    ]
    rippled = Image.new("RGB", mirror.size)
    for y, row in enumerate(rows):
        rippled.paste(row, (0, y))
    sea = img.crop((0, quay + 14, W, H))
    img.paste(Image.blend(sea, rippled.filter(ImageFilter.GaussianBlur(1.2)), 0.45), (0, quay + 14))
    # A few small boats.
    for _ in range(5):
        bx, by = rng.randrange(40, W - 120), rng.randrange(quay + 60, H - 40)
        s = 0.6 + (by - quay) / (H - quay)
        hull = rng.choice([(240, 240, 236), (40, 70, 120), (190, 60, 50)])
        d.polygon(
            [(bx, by), (bx + 90 * s, by), (bx + 76 * s, by + 16 * s), (bx + 12 * s, by + 16 * s)],
            fill=hull,
        )
        d.line((bx + 40 * s, by, bx + 40 * s, by - 70 * s), fill=(60, 50, 40), width=2)
        d.polygon(
            [(bx + 42 * s, by - 66 * s), (bx + 42 * s, by - 8 * s), (bx + 80 * s, by - 8 * s)],
            fill=(246, 242, 232),
        )
    return img


def sunset(rng: random.Random) -> Image.Image:
    img = gradient(
        (W, H),
        [
            (0, (46, 40, 96)),
            (0.3, (150, 72, 110)),
            (0.52, (246, 146, 84)),
            (0.6, (252, 196, 120)),
            (1, (60, 40, 60)),
        ],
    )
    clouds(img, rng, 6, (80, 250), (250, 150, 120))
    horizon = 400
    glow(img, (W // 2 + 120, horizon - 10), 34, (255, 226, 170), 0.55)
    water(img, rng, horizon, (40, 30, 52), (170, 90, 86), (255, 206, 140))
    # The sun's path on the water.
    path = Image.new("L", img.size, 0)
    pd = ImageDraw.Draw(path)
    cx = W // 2 + 120
    for _ in range(500):
        y = rng.randrange(horizon, H)
        spread = 10 + (y - horizon) * 0.5
        x = cx + rng.gauss(0, spread / 2)
        pd.line((x, y, x + rng.randrange(6, 30), y), fill=rng.randrange(90, 220))
    img.paste(
        Image.new("RGB", img.size, (255, 214, 150)),
        (0, 0),
        path.filter(ImageFilter.GaussianBlur(1)),
    )
    # A dark headland on the left, with a lighthouse on its crown.
    bumps = ridge(rng, 0, 6)
    water_line = horizon + 6
    land = [
        min(water_line, horizon - 190 * math.exp(-((x / 300) ** 2.4)) + bumps[x]) for x in range(W)
    ]
    end = next((x for x in range(W) if land[x] >= water_line - 1), W)
    outline = [(x, land[x]) for x in range(end)]
    mass = Image.new("L", img.size, 0)
    ImageDraw.Draw(mass).polygon([(0, water_line), *outline, (end, water_line)], fill=255)
    # Its reflection: the silhouette flipped below the water line, faint and blurred.
    mirror = mass.crop((0, 0, W, water_line)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    reflection = Image.new("L", img.size, 0)
    reflection.paste(mirror, (0, water_line))
    reflection = Image.eval(reflection.filter(ImageFilter.GaussianBlur(4)), lambda v: v * 6 // 10)
    img.paste(Image.new("RGB", img.size, (34, 24, 36)), (0, 0), reflection)
    img.paste(Image.new("RGB", img.size, (34, 24, 36)), (0, 0), mass)
    d = ImageDraw.Draw(img)
    lx, ground = 150, int(land[150]) + 4
    d.polygon(
        [(lx - 10, ground - 70), (lx + 10, ground - 70), (lx + 15, ground), (lx - 15, ground)],
        fill=(30, 22, 32),
    )
    d.rectangle((lx - 12, ground - 86, lx + 12, ground - 70), fill=(255, 230, 170))
    d.polygon(
        [(lx - 16, ground - 86), (lx, ground - 104), (lx + 16, ground - 86)], fill=(30, 22, 32)
    )
    glow(img, (lx, ground - 78), 6, (120, 90, 50), 0.5)
    return img


def favicon(path: Path) -> None:
    """The logo at favicon sizes: a cream gate on a teal square, a gold sill."""
    size = 256
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((8, 8, size - 8, size - 8), radius=48, fill=(31, 94, 102, 255))
    cream = (250, 241, 222, 255)
    d.rectangle((52, 96, 204, 212), fill=cream)
    d.pieslice((52, 20, 204, 172), 180, 360, fill=cream)
    d.rectangle((88, 120, 168, 212), fill=(31, 94, 102, 255))
    d.pieslice((88, 80, 168, 160), 180, 360, fill=(31, 94, 102, 255))
    for x in (108, 128, 148):
        d.rectangle((x - 4, 118, x + 4, 212), fill=cream)
    d.rounded_rectangle((36, 204, 220, 220), radius=8, fill=(224, 164, 88, 255))
    img.save(path, format="ICO", sizes=[(16, 16), (32, 32), (48, 48)])


SCENES: dict[str, Callable[[random.Random], Image.Image]] = {
    "coast": coast,
    "mountains": mountains,
    "harbour": harbour,
    "sunset": sunset,
}


def main() -> None:
    out = SITE / "images"
    out.mkdir(parents=True, exist_ok=True)
    for seed, (name, paint) in enumerate(SCENES.items(), start=7):
        rng = random.Random(seed)
        img = grain(paint(rng).filter(ImageFilter.SMOOTH), rng)
        target = out / f"{name}.jpg"
        img.save(target, "JPEG", quality=82, optimize=True, progressive=True)
        print(f"{target.relative_to(SITE.parent.parent)}: {target.stat().st_size} bytes")
    favicon(SITE / "favicon.ico")
    print(f"favicon.ico: {(SITE / 'favicon.ico').stat().st_size} bytes")


if __name__ == "__main__":
    main()
