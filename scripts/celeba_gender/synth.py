"""Synthetic CelebA: attributes drawn from real statistics, procedural faces, the four layouts.

The 40 attributes follow the real prevalence given male / female (``resources/
attribute_prevalence.csv``). Each face is drawn with PIL from its attributes; gender is never
painted directly: the cues are the attributes themselves plus weak, heavily overlapping shape
differences (jaw, face width, eyebrow thickness, hair length). Every attribute is drawn
except Attractive and High_Cheekbones; No_Beard = -1 without Goatee or Mustache is a full beard.
Speed: about 5,000 images per minute (one core, 2x supersampled drawing, JPEG encode).
"""

from __future__ import annotations

import argparse
import io
import logging
import math
import multiprocessing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from celeba_gender import parquet
from celeba_gender.constants import (
    ATTRIBUTES,
    CELEBA30K_ATTR,
    CELEBA30K_IMAGES,
    HUB_CONFIG,
    IMAGE_HEIGHT,
    IMAGE_WIDTH,
    KAGGLE_ATTR,
    KAGGLE_IMAGES,
    LABEL_ATTRIBUTE,
    ORIGINAL_ATTR,
    ORIGINAL_IMAGES,
)
from celeba_gender.io import CelebaGenderError, atomic_path, write_csv, write_text
from celeba_gender.layouts import LAYOUTS, SYNTHETIC_MARKER, check_synthetic_target

PREVALENCE_FILE = Path(__file__).parent / "resources" / "attribute_prevalence.csv"
KAGGLE_PARTITION = "list_eval_partition.csv"
ORIGINAL_PARTITION = "celeba/list_eval_partition.txt"
JPEG_QUALITY = 90

_ATTR_STREAM = 0xA77  # keeps the attribute rng apart from the per-image rngs
_IMAGE_STREAM = 0x1A6
_SCALE = 2  # faces are drawn at twice the size, then reduced (anti-aliasing)
_MARGIN = 24  # extra canvas around the image so that pose changes never show an edge
_HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
_HAIR_TEXTURES = ("Straight_Hair", "Wavy_Hair")

_OTHER_HAIR = ((120, 50, 28), (150, 110, 70), (80, 48, 32), (165, 75, 40))
_IRISES = ((90, 60, 35), (60, 40, 25), (70, 110, 150), (80, 120, 80), (120, 100, 60))
_EYESHADOWS = ((130, 70, 160), (60, 90, 170), (150, 95, 55), (60, 50, 65), (70, 130, 90))
_LIPSTICKS = ((190, 20, 45), (225, 70, 120), (135, 25, 65), (230, 80, 70), (170, 30, 30))

Colour = tuple[int, ...]

log = logging.getLogger(__name__)


class SynthError(CelebaGenderError):
    """Bad arguments or resources for the synthetic generator."""


# ----------------------------------------------------------------------------------- attributes
def load_prevalence(path: str | Path = PREVALENCE_FILE) -> pd.DataFrame:
    """Read the attribute statistics table, indexed by attribute name."""
    frame = pd.read_csv(path).set_index("attribute")
    needed = ("p_all", "p_given_male", "p_given_female")
    missing_cols = [c for c in needed if c not in frame.columns]
    missing = [a for a in ATTRIBUTES if a not in frame.index]
    if missing_cols or missing:
        raise SynthError(
            f"{path}: expected columns attribute,{','.join(needed)} and one row per CelebA "
            f"attribute; missing columns {missing_cols}, missing attributes {missing}"
        )
    return frame


def _bernoulli_p(prev: pd.DataFrame, name: str, male: np.ndarray) -> np.ndarray:
    """Per-row probability of ``name`` given the row's gender."""
    return np.where(male, prev.at[name, "p_given_male"], prev.at[name, "p_given_female"])


def _categorical(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Index of the category chosen by uniform ``u`` (len(probs) = none of them)."""
    cum = np.cumsum(probs, axis=1)
    return (u[:, None] >= cum).sum(axis=1)


GroupRates = Mapping[str, Mapping[str, float]]


def _rate_pair(name: str, rates: Mapping[str, float]) -> tuple[float, float]:
    """(P(name | male), P(name | female)) of one ``group_rates`` entry, checked."""
    if name not in ATTRIBUTES or name == LABEL_ATTRIBUTE:
        raise SynthError(
            f"group_rates: {name!r} is not a CelebA attribute other than the target "
            f"{LABEL_ATTRIBUTE!r}; expected e.g. {{'Blond_Hair': {{'male': 0.05, 'female': 0.95}}}}"
        )
    if not isinstance(rates, Mapping) or set(rates) != {"male", "female"}:
        raise SynthError(
            f"group_rates[{name!r}]: expected {{'male': P({name} | male), "
            f"'female': P({name} | female)}}, got {rates!r}"
        )
    pair = (float(rates["male"]), float(rates["female"]))
    if not all(0.0 <= p <= 1.0 for p in pair):
        raise SynthError(f"group_rates[{name!r}]: rates must lie in [0, 1], got {pair}")
    return pair


def _fit_exclusive(prev: pd.DataFrame, planted: set[str], column: str) -> None:
    """Within each exclusive hair group, shrink the rates of the attributes not planted so that
    the group's rates add up to at most P(not bald); SynthError if the planted ones alone do not
    fit (or a planted Bangs exceeds P(not bald), a planted Goatee or Mustache P(beard))."""
    haired = 1.0 - prev.at["Bald", column]
    for group in (_HAIR_COLOURS, _HAIR_TEXTURES):
        if planted.isdisjoint(group):
            continue
        fixed = sum(prev.at[g, column] for g in group if g in planted)
        free = [g for g in group if g not in planted]
        free_total = sum(prev.at[g, column] for g in free)
        if fixed > haired + 1e-12:
            raise SynthError(
                f"group_rates: the planted rates of {[g for g in group if g in planted]} "
                f"({column}) add up to {fixed:.4f}, above P(not bald) = {haired:.4f}"
            )
        if free_total > haired - fixed:
            for g in free:
                prev.at[g, column] *= max(0.0, haired - fixed) / free_total
    limits = {"Bangs": haired, "Goatee": 1.0 - prev.at["No_Beard", column]}
    limits["Mustache"] = limits["Goatee"]
    for name, limit in limits.items():
        if name in planted and prev.at[name, column] > limit + 1e-12:
            raise SynthError(
                f"group_rates[{name!r}]: {prev.at[name, column]} ({column}) is above what the "
                f"other attributes allow ({limit:.4f})"
            )


def planted_prevalence(prev: pd.DataFrame, group_rates: GroupRates) -> pd.DataFrame:
    """A copy of the prevalence table with P(attribute | male) and P(attribute | female) set as
    ``group_rates`` says (a planted spurious correlation with the target ``Male``).

    The planted rates are exact (in expectation). Attributes tied to a planted one by the
    sampler's constraints adjust: the other hair colours (or textures) shrink so that the
    exclusive group still fits on the haired heads.
    """
    out = prev.copy()
    male_share = float(out.at[LABEL_ATTRIBUTE, "p_all"])
    for name, rates in group_rates.items():
        p_male, p_female = _rate_pair(name, rates)
        out.at[name, "p_given_male"], out.at[name, "p_given_female"] = p_male, p_female
        out.at[name, "p_all"] = male_share * p_male + (1 - male_share) * p_female
    for column in ("p_given_male", "p_given_female"):
        _fit_exclusive(out, set(group_rates), column)
    return out


def sample_attributes(
    n: int,
    seed: int,
    prevalence: pd.DataFrame | None = None,
    group_rates: GroupRates | None = None,
) -> pd.DataFrame:
    """Sample ``n`` CelebA attribute rows (``image_id`` then the 40 attributes, -1/1).

    ``Male`` ~ Bernoulli(p_all); every other attribute keeps its prevalence given male and given
    female. Constraints: hair colours are exclusive and absent on bald heads, straight and wavy
    are exclusive, bangs need hair, goatee and moustache only occur with ``No_Beard`` = -1.

    ``group_rates`` plants group rates: ``{"Blond_Hair": {"male": 0.05, "female": 0.95}}`` makes
    P(Blond_Hair | male) = 0.05 and P(Blond_Hair | female) = 0.95 (``planted_prevalence``), so
    that every (sex x attribute) group has an expected size set by construction. None (the
    default) leaves the sample exactly as without the argument. The random draws are the same
    either way: only the thresholds they are compared with change.
    """
    if n < 1 or seed < 0:
        raise SynthError(f"sample_attributes: need n >= 1 and seed >= 0, got n={n}, seed={seed}")
    prev = load_prevalence() if prevalence is None else prevalence
    if group_rates is not None:
        prev = planted_prevalence(prev, group_rates)
    rng = np.random.default_rng([seed, _ATTR_STREAM])
    uniform = rng.random((n, len(ATTRIBUTES)))
    col = {name: uniform[:, j] for j, name in enumerate(ATTRIBUTES)}
    male = col[LABEL_ATTRIBUTE] < prev.at[LABEL_ATTRIBUTE, "p_all"]
    present = {
        name: col[name] < _bernoulli_p(prev, name, male)
        for name in ATTRIBUTES
        if name != LABEL_ATTRIBUTE
    }
    present[LABEL_ATTRIBUTE] = male

    bald = present["Bald"]
    haired = np.clip(1.0 - _bernoulli_p(prev, "Bald", male), 1e-9, 1.0)
    for group in (_HAIR_COLOURS, _HAIR_TEXTURES):
        probs = np.stack([_bernoulli_p(prev, g, male) / haired for g in group], axis=1)
        probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1.0)
        choice = _categorical(col[group[0]], probs)
        for k, name in enumerate(group):
            present[name] = (choice == k) & ~bald
    present["Bangs"] = (col["Bangs"] < _bernoulli_p(prev, "Bangs", male) / haired) & ~bald

    bearded = ~present["No_Beard"]
    p_beard = 1.0 - _bernoulli_p(prev, "No_Beard", male)
    for name in ("Goatee", "Mustache"):
        p = np.divide(
            _bernoulli_p(prev, name, male), p_beard, out=np.zeros(n), where=p_beard > 1e-9
        )
        present[name] = (col[name] < p) & bearded

    frame = pd.DataFrame({name: np.where(present[name], 1, -1) for name in ATTRIBUTES})
    frame.insert(0, "image_id", image_ids(n))
    return frame


def image_ids(n: int) -> list[str]:
    """CelebA file names 000001.jpg … for ``n`` images."""
    return [f"{i:06d}.jpg" for i in range(1, n + 1)]


# ----------------------------------------------------------------------------------- drawing
@dataclass(frozen=True)
class _Canvas:
    """Draws in output-image coordinates on the enlarged, margin-padded canvas."""

    draw: ImageDraw.ImageDraw

    def xy(self, points) -> list[float]:
        arr = (np.asarray(points, dtype=float).reshape(-1, 2) + _MARGIN) * _SCALE
        return arr.ravel().tolist()

    def box(self, cx: float, cy: float, rx: float, ry: float) -> list[float]:
        return self.xy([(cx - rx, cy - ry), (cx + rx, cy + ry)])

    def w(self, width: float) -> int:
        return max(1, round(width * _SCALE))

    def ellipse(self, cx, cy, rx, ry, fill=None, outline=None, width=1.0) -> None:
        self.draw.ellipse(self.box(cx, cy, rx, ry), fill=fill, outline=outline, width=self.w(width))

    def polygon(self, points, fill) -> None:
        self.draw.polygon(self.xy(points), fill=fill)

    def trapezoid(self, cx, w, y0, y1, g0, g1, fill) -> None:
        """A quadrilateral symmetric about column ``cx``: half width ``w`` + ``g0`` at row ``y0``,
        ``w`` + ``g1`` at row ``y1`` (summed as cx ± w, then ± g: the floats stay as drawn)."""
        self.polygon(
            [(cx - w - g0, y0), (cx + w + g0, y0), (cx + w + g1, y1), (cx - w - g1, y1)], fill=fill
        )

    def line(self, points, fill, width=1.0) -> None:
        self.draw.line(self.xy(points), fill=fill, width=self.w(width), joint="curve")

    def dots(self, points, fill) -> None:
        """One output pixel per point (a 2x2 block on the enlarged canvas)."""
        base = np.floor((np.asarray(points, dtype=float).reshape(-1, 2) + _MARGIN) * _SCALE)
        block = np.concatenate([base + d for d in ((0, 0), (1, 0), (0, 1), (1, 1))])
        self.draw.point(block.ravel().tolist(), fill=fill)


@dataclass(frozen=True)
class _Style:
    """Every random choice of one face, drawn in a fixed order whatever the attributes."""

    bg: np.ndarray  # (2, 3) colours
    bg_direction: int
    blobs: np.ndarray  # (3, 6): x, y, r, r, g, b
    skin_t: float
    skin_jitter: np.ndarray
    other_hair: np.ndarray  # colour for hair with no named colour
    z: np.ndarray  # standard normals for the shape parameters
    iris: np.ndarray
    clothes: np.ndarray
    neckline: int
    tie: np.ndarray
    jewel: int
    eyeshadow: np.ndarray
    lipstick: np.ndarray
    frame_colour: np.ndarray
    tint: float
    strength: np.ndarray  # (3,) how marked lipstick, eye shadow and stubble are
    hat_kind: int
    hat_colour: np.ndarray
    strands: np.ndarray  # (12, 3) uniforms for hair strand lines
    stipple: np.ndarray  # (900, 2) uniforms for 5 o'clock shadow / beard texture
    wrinkle: np.ndarray  # (6,) uniforms
    pose: np.ndarray  # angle, scale, dx, dy
    blur: float
    noise_sigma: float
    gain: float
    bias: float
    quality: int
    noise: np.ndarray  # (H, W, 3) uniforms in [0, 1)


def _pick(rng: np.random.Generator, colours) -> np.ndarray:
    """One of ``colours``, chosen uniformly (one draw)."""
    return np.array(colours[int(rng.integers(len(colours)))])


def _sample_style(rng: np.random.Generator) -> _Style:
    """Draw the random part of a face (always the same number of draws, in the same order)."""
    return _Style(
        bg=rng.uniform(20, 235, (2, 3)),
        bg_direction=int(rng.integers(0, 2)),
        blobs=np.column_stack(
            [rng.uniform(0, 178, 3), rng.uniform(0, 218, 3), rng.uniform(10, 40, 3)]
            + [rng.uniform(0, 255, 3) for _ in range(3)]
        ),
        skin_t=float(rng.beta(1.4, 2.2)),
        skin_jitter=rng.normal(0, 6, 3),
        other_hair=_pick(rng, _OTHER_HAIR) + rng.normal(0, 8, 3),
        z=rng.standard_normal(12),
        iris=_pick(rng, _IRISES),
        clothes=rng.uniform(15, 240, 3),
        neckline=int(rng.integers(0, 2)),
        tie=rng.uniform(20, 200, 3),
        jewel=int(rng.integers(0, 3)),
        eyeshadow=_pick(rng, _EYESHADOWS),
        lipstick=_pick(rng, _LIPSTICKS),
        frame_colour=rng.uniform(10, 120, 3) if rng.random() < 0.7 else rng.uniform(150, 220, 3),
        tint=float(rng.random()),
        strength=rng.uniform(0.4, 1.0, 3),
        hat_kind=int(rng.integers(0, 3)),
        hat_colour=rng.uniform(15, 235, 3),
        strands=rng.random((12, 3)),
        stipple=rng.random((900, 2)),
        wrinkle=rng.random(6),
        pose=np.array(
            [rng.uniform(-8, 8), rng.uniform(0.92, 1.08), rng.uniform(-5, 5), rng.uniform(-5, 5)]
        ),
        blur=float(rng.uniform(1.3, 2.2)),
        noise_sigma=float(rng.uniform(1.0, 6.0)),
        gain=float(rng.uniform(0.85, 1.12)),
        bias=float(rng.uniform(-12, 12)),
        quality=int(rng.integers(40, 92)),
        noise=rng.random((IMAGE_HEIGHT, IMAGE_WIDTH, 3), dtype=np.float32),
    )


@dataclass(frozen=True)
class _Geometry:
    """Positions and sizes of one face, in output-image pixels."""

    cx: float
    cy: float
    a: float  # half width at the cheeks
    b: float  # half height
    jaw: float  # 1 = round lower face, smaller = narrower chin
    eye_y: float
    eye_dx: float
    brow_th: float
    hair_len: float  # 0 short … 1 long
    nose_y: float
    mouth_y: float
    shoulder_y: float

    @property
    def chin_y(self) -> float:
        return self.cy + self.b


def _on(attrs: Mapping[str, int], name: str) -> bool:
    return int(attrs[name]) == 1


def _geometry(attrs: Mapping[str, int], style: _Style) -> _Geometry:
    """Face shape from the attributes and the style; gender shifts the means only weakly."""
    z = style.z
    g = 1.0 if _on(attrs, "Male") else -1.0
    a = 44.5 + 0.8 * g + 2.8 * z[0]
    b = 67.0 + 1.5 * z[1]
    jaw = 0.80 + 0.014 * g + 0.05 * z[2]
    if _on(attrs, "Chubby"):
        a, jaw = a + 6.0, max(jaw, 0.93)
    if _on(attrs, "Oval_Face"):
        a, b, jaw = a - 3.0, b + 4.0, min(jaw, 0.76)
    return _Geometry(
        cx=89.0,
        cy=117.0,
        a=a,
        b=b,
        jaw=jaw,
        eye_y=112.0,
        eye_dx=19.5 + 0.8 * z[3],
        brow_th=float(np.clip(2.5 + 0.22 * g + 0.8 * z[4], 1.2, 4.5)),
        hair_len=float(np.clip(0.45 - 0.12 * g + 0.38 * z[5], 0.0, 1.0)),
        nose_y=135.0 + 1.0 * z[6],
        mouth_y=153.0 + 1.0 * z[7],
        shoulder_y=196.0 + 3.0 * z[8],
    )


def _rgba(colour, alpha: int) -> Colour:
    """An RGBA tuple from any 3 numbers, clipped to 0..255."""
    return (*(min(255, max(0, int(v + 0.5))) for v in colour[:3]), alpha)


def _skin(attrs: Mapping[str, int], style: _Style) -> np.ndarray:
    if _on(attrs, "Pale_Skin"):
        return np.clip(np.array([238.0, 224.0, 216.0]) + style.skin_jitter * 0.4, 0, 255)
    palette = np.array(
        [(250, 218, 192), (232, 188, 152), (198, 144, 108), (150, 100, 70), (95, 62, 45)], float
    )
    pos = style.skin_t * (len(palette) - 1)
    k = min(int(pos), len(palette) - 2)
    return np.clip(
        palette[k] * (k + 1 - pos) + palette[k + 1] * (pos - k) + style.skin_jitter, 0, 255
    )


def _hair_colour(attrs: Mapping[str, int], style: _Style) -> np.ndarray:
    named = {
        "Black_Hair": (22, 18, 18),
        "Blond_Hair": (222, 188, 112),
        "Brown_Hair": (105, 66, 38),
        "Gray_Hair": (168, 168, 172),
    }
    for name, colour in named.items():
        if _on(attrs, name):
            return np.array(colour, float) + style.z[9] * 6
    return np.clip(style.other_hair, 0, 255)


def _band(xs, upper, lower) -> np.ndarray:
    """Closed outline of the strip between curves ``upper`` and ``lower`` over columns ``xs``."""
    return np.vstack([np.column_stack([xs, upper]), np.column_stack([xs, lower])[::-1]])


def _narrowing(geo: _Geometry, s):
    """Width factor of the face outline where the sine of its angle is ``s``: 1 in the upper
    half, narrowing towards the chin in the lower half."""
    return np.where(s > 0, 1 - (1 - geo.jaw) * np.abs(s) ** 1.6, 1.0)


def _face_outline(geo: _Geometry, t=None, grow_x: float = 0.0, grow_y: float = 0.0) -> np.ndarray:
    """The face outline (an ellipse whose lower half narrows towards the chin) at angles ``t``,
    by default 72 round it (a closed outline), its half axes grown by ``grow_x``, ``grow_y``."""
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False) if t is None else t
    s = np.sin(t)
    x = geo.cx + (geo.a + grow_x) * _narrowing(geo, s) * np.cos(t)
    y = geo.cy + (geo.b + grow_y) * s
    return np.column_stack([x, y])


def _face_half_width(geo: _Geometry, y):
    """Half width of the face outline at row ``y`` (scalar or array)."""
    s = np.clip((np.asarray(y, dtype=float) - geo.cy) / geo.b, -1.0, 1.0)
    return geo.a * np.sqrt(1 - s * s) * _narrowing(geo, s)


def _background(style: _Style) -> Image.Image:
    """Canvas filled with a vertical or horizontal two-colour gradient."""
    w = (IMAGE_WIDTH + 2 * _MARGIN) * _SCALE
    h = (IMAGE_HEIGHT + 2 * _MARGIN) * _SCALE
    length = h if style.bg_direction == 0 else w
    t = np.linspace(0.0, 1.0, length)[:, None]
    ramp = (style.bg[0] * (1 - t) + style.bg[1] * t).astype(np.uint8)
    strip = ramp[:, None, :] if style.bg_direction == 0 else ramp[None, :, :]
    return Image.fromarray(np.ascontiguousarray(strip), "RGB").resize((w, h), Image.NEAREST)


def _draw_back(cv: _Canvas, attrs, style, geo: _Geometry, hair, skin) -> None:
    """Background blobs, long hair behind the head, neck, clothes, collar, tie, necklace."""
    for x, y, r, *rgb in style.blobs:
        cv.ellipse(x, y, r, r, fill=_rgba(rgb, 45))
    bald = _on(attrs, "Bald")
    wavy = _on(attrs, "Wavy_Hair")
    if not bald and geo.hair_len > 0.3:
        cv.polygon(_back_hair(geo, wavy), fill=_rgba(hair * 0.85, 255))
    neck_w = geo.a * 0.52
    cv.trapezoid(
        geo.cx, neck_w, geo.cy + 20, IMAGE_HEIGHT + _MARGIN, 0, 3, fill=_rgba(skin * 0.82, 255)
    )
    sy = geo.shoulder_y
    tie = _on(attrs, "Wearing_Necktie")
    dip = 24 if (style.neckline == 1 or tie) else 9
    body = [
        (-_MARGIN, IMAGE_HEIGHT + _MARGIN),
        (-_MARGIN, sy + 14),
        (geo.cx - 62, sy + 2),
        (geo.cx - neck_w - 2, sy - 3),
        (geo.cx - neck_w * 0.5, sy + dip * 0.6),
        (geo.cx, sy + dip),
        (geo.cx + neck_w * 0.5, sy + dip * 0.6),
        (geo.cx + neck_w + 2, sy - 3),
        (geo.cx + 62, sy + 2),
        (IMAGE_WIDTH + _MARGIN, sy + 14),
        (IMAGE_WIDTH + _MARGIN, IMAGE_HEIGHT + _MARGIN),
    ]
    cv.polygon(body, fill=_rgba(style.clothes, 255))
    if tie:
        shirt = (238, 238, 232)
        cv.polygon(
            [(geo.cx - neck_w, sy - 3), (geo.cx + neck_w, sy - 3), (geo.cx, sy + 26)], fill=shirt
        )
        for side in (-1, 1):  # collar points
            edge = geo.cx + side * neck_w
            cv.polygon(
                [(edge + side * 2, sy - 5), (geo.cx + side, sy + 6), (geo.cx + side * 12, sy + 13)],
                fill=(250, 250, 246),
            )
        tie_rgb = _rgba(style.tie, 255)
        cv.trapezoid(geo.cx, 0, sy + 1, sy + 8, 5, 3, fill=tie_rgb)  # knot
        cv.trapezoid(geo.cx, 0, sy + 8, sy + 40, 3, 8, fill=tie_rgb)  # blade
        cv.line([(geo.cx - 4, sy + 16), (geo.cx + 5, sy + 12)], fill=_rgba(style.tie * 0.6, 255))
    if _on(attrs, "Wearing_Necklace"):
        metal = [(220, 180, 60), (205, 205, 215), (245, 240, 228)][style.jewel]
        t = np.linspace(0.1, np.pi - 0.1, 15)
        xs = geo.cx - (neck_w + 3) * np.cos(t)
        ys = sy - 6 + 13 * np.sin(t)
        cv.line(np.column_stack([xs, ys]), fill=_rgba(np.array(metal) * 0.7, 255), width=0.8)
        for x, y in zip(xs[::2], ys[::2], strict=True):
            cv.ellipse(x, y, 1.5, 1.5, fill=metal)
        cv.ellipse(geo.cx, sy + 10, 2.8, 3.4, fill=metal, outline=_rgba(np.array(metal) * 0.6, 255))
    if not bald and geo.hair_len > 0.55:
        bottom = geo.eye_y + 30 + 110 * geo.hair_len
        for side in (-1, 1):
            x0 = geo.cx + side * (geo.a - 2)
            x1 = geo.cx + side * (geo.a + 14)
            ys = np.linspace(geo.cy + 10, bottom, 10)
            wave = 2.5 * np.sin(ys / 4.0) if wavy else np.zeros_like(ys)
            inner = np.column_stack([np.full_like(ys, x0) + side * (ys - ys[0]) * 0.12 + wave, ys])
            outer = np.column_stack([np.full_like(ys, x1) + side * (ys - ys[0]) * 0.08 + wave, ys])
            tip = [((inner[-1, 0] + outer[-1, 0]) / 2, bottom + 6)]
            cv.polygon(np.vstack([inner, tip, outer[::-1]]), fill=_rgba(hair * 0.92, 255))


def _hair_cap(geo: _Geometry, volume: float, wavy: bool, straight: bool) -> np.ndarray:
    """Outline of the hair mass above the face, down to the tops of the ears."""
    t = np.linspace(np.pi, 2 * np.pi, 49)
    rx = geo.a + 3 + 6 * volume
    ry = geo.b + 6 + 9 * volume
    amp, freq = (2.6, 10) if wavy else (0.0, 0) if straight else (1.0, 16)
    r = 1 + amp * np.sin(freq * t) / ry
    top = np.column_stack([geo.cx + rx * r * np.cos(t), geo.cy - 4 + ry * r * np.sin(t)])
    side = geo.eye_y - 2 + 10 * min(volume, 0.6)
    return np.vstack([[(geo.cx - rx + 2, side)], top, [(geo.cx + rx - 2, side)]])


def _back_hair(geo: _Geometry, wavy: bool) -> np.ndarray:
    """Hair falling behind the head to the neck or shoulders, with rounded ends."""
    bottom = geo.eye_y + 30 + 110 * geo.hair_len
    half = geo.a + 5 + 6 * geo.hair_len + (4 if wavy else 0)
    ys = np.linspace(geo.cy - geo.b * 0.4, bottom - 6, 16)
    flare = 5 * (ys - ys[0]) / (bottom - ys[0]) - 0.1 * half * np.clip(1 - (ys - ys[0]) / 25, 0, 1)
    wave = 2.6 * np.sin(ys / 4.5) if wavy else np.zeros_like(ys)
    left = np.column_stack([geo.cx - half - flare - wave, ys])
    tip = np.linspace(0, np.pi / 2, 5)
    left_end = np.column_stack([left[-1, 0] + 9 * (1 - np.cos(tip)), bottom - 6 + 6 * np.sin(tip)])
    left = np.vstack([left, left_end])
    right = left[::-1].copy()
    right[:, 0] = 2 * geo.cx - right[:, 0]
    return np.vstack([left, right])


def _hairline_y(geo: _Geometry, x, receding: bool):
    """Row of the scalp hair's lower edge across the forehead at column ``x``."""
    u = np.clip(np.abs((np.asarray(x, dtype=float) - geo.cx) / (geo.a - 1)), 0, 1)
    if receding:  # bare temples, a peak left in the middle
        return 64 - 8 * np.sin(np.pi * np.minimum(u / 0.9, 1)) ** 1.2 + 30 * u**5
    return 73 + 20 * u**3


def _draw_head(cv: _Canvas, attrs, style, geo: _Geometry, hair, skin) -> None:
    """Hair mass, ears, face, chin, wrinkles, hairline, bangs, sideburns."""
    bald = _on(attrs, "Bald")
    wavy, straight = _on(attrs, "Wavy_Hair"), _on(attrs, "Straight_Hair")
    cap = _hair_cap(geo, geo.hair_len + (0.25 if wavy else 0.0), wavy, straight)
    if not bald:
        cv.polygon(cap, fill=_rgba(hair, 255))
    for side in (-1, 1):
        ex = geo.cx + side * (_face_half_width(geo, geo.eye_y + 6) + 1)
        cv.ellipse(ex, geo.eye_y + 6, 5.5, 11, fill=_rgba(skin * 0.9, 255))
        cv.ellipse(ex + side * 1, geo.eye_y + 6, 2.5, 7, fill=_rgba(skin * 0.72, 255))
    if _on(attrs, "Double_Chin"):
        cv.ellipse(geo.cx, geo.chin_y + 1, geo.a * 0.45, 9, fill=_rgba(skin * 0.93, 255))
        cv.line(
            [(geo.cx - geo.a * 0.38, geo.chin_y + 2), (geo.cx, geo.chin_y + 8.5),
             (geo.cx + geo.a * 0.38, geo.chin_y + 2)],
            fill=_rgba(skin * 0.6, 200), width=1.3,
        )  # fmt: skip
    outline = _face_outline(geo)
    cv.polygon(outline, fill=_rgba(skin, 255))
    inner = (outline - [geo.cx, geo.cy]) * [0.86, 0.9] + [geo.cx, geo.cy - 3]
    cv.polygon(inner, fill=_rgba(skin * 1.06 + 6, 110))
    if _on(attrs, "Chubby"):
        for side in (-1, 1):
            cv.ellipse(
                geo.cx + side * (geo.a - 10), geo.nose_y + 8, 11, 10, fill=_rgba(skin * 1.04, 120)
            )
    if not _on(attrs, "Young"):
        _draw_wrinkles(cv, style, geo, skin)
    if bald:
        cv.ellipse(geo.cx - 8, geo.cy - geo.b + 14, 16, 7, fill=(255, 255, 255, 70))
        rim = hair if _has_hair_colour(attrs) else np.array([60.0, 55.0, 52.0]) + skin * 0.2
        for side in (-1, 1):
            x = geo.cx + side * (_face_half_width(geo, geo.eye_y - 10) - 1)
            cv.polygon(
                [(x + side * 1.5, geo.eye_y - 18), (x - side * 7, geo.eye_y - 12),
                 (x - side * 6, geo.eye_y - 2), (x + side * 1.5, geo.eye_y + 4)],
                fill=_rgba(rim, 230),
            )  # fmt: skip
    else:
        receding = _on(attrs, "Receding_Hairline")
        xs = geo.cx + (geo.a - 1) * np.linspace(1, -1, 31)  # the hairline, right to left temple
        line = np.column_stack([xs, _hairline_y(geo, xs, receding)])
        cv.polygon(np.vstack([cap[cap[:, 1] < 95], line]), fill=_rgba(hair, 255))
        _draw_strands(cv, style, geo, hair, wavy, receding)
        if straight:  # sleek hair catches the light in a band
            t = np.linspace(np.pi * 1.2, np.pi * 1.8, 12)
            shine = np.column_stack(
                [geo.cx + (geo.a - 2) * np.cos(t), geo.cy - 8 + (geo.b - 2) * np.sin(t)]
            )
            cv.line(shine, fill=_rgba(hair * 1.3 + 35, 90), width=1.6)
    if _on(attrs, "Bangs") and not bald:
        n = 9
        xs = np.linspace(geo.cx - geo.a * 0.88, geo.cx + geo.a * 0.88, 2 * n + 1)
        ys = np.where(np.arange(2 * n + 1) % 2 == 0, 93.0, 98.5)
        ys = ys + 2.0 * np.sin(xs / 7.0)
        fringe = np.vstack([[(xs[0], 62.0)], np.column_stack([xs, ys]), [(xs[-1], 62.0)]])
        cv.polygon(fringe, fill=_rgba(hair * 0.97, 255))
        for k in range(n):
            x = xs[2 * k + 1]
            cv.line([(x, 70), (x - 1.5, ys[2 * k + 1] - 1)], fill=_rgba(hair * 0.7, 200), width=0.8)
    if _on(attrs, "Sideburns"):
        colour = _rgba(hair * 0.8 if not bald else np.array([50.0, 40, 35]), 255)
        for side in (-1, 1):
            x = geo.cx + side * (_face_half_width(geo, geo.eye_y) - 1)
            cv.polygon(
                [(x, geo.eye_y - 12), (x - side * 5, geo.eye_y - 12),
                 (x - side * 5, geo.eye_y + 16), (x - side * 1, geo.eye_y + 21)],
                fill=colour,
            )  # fmt: skip


def _has_hair_colour(attrs: Mapping[str, int]) -> bool:
    """True when one of the named hair colours is present."""
    return any(_on(attrs, name) for name in _HAIR_COLOURS)


def _draw_strands(
    cv: _Canvas, style: _Style, geo: _Geometry, hair, wavy: bool, receding: bool
) -> None:
    """A few strand lines on the scalp hair, stopping above the hairline."""
    shade = _rgba(hair * 0.7 if hair.mean() > 60 else hair + 40, 150)
    for u, v, w in style.strands[:8]:
        x = geo.cx + (u - 0.5) * geo.a * 1.5
        y0 = geo.cy - geo.b - 4 + v * 5
        y1 = min(y0 + 10 + 12 * w, float(_hairline_y(geo, x, receding)) - 3)
        if y1 <= y0 + 2:
            continue
        ys = np.linspace(y0, y1, 6)
        xs = x + (2.5 * np.sin(ys / 3.0) if wavy else (x - geo.cx) * 0.1 * (ys - y0) / 10)
        cv.line(np.column_stack([xs, ys]), fill=shade, width=0.7)


def _draw_wrinkles(cv: _Canvas, style: _Style, geo: _Geometry, skin) -> None:
    line = _rgba(skin * 0.62, 150)
    for k in range(3):
        y = 80 + 5 * k + 2 * style.wrinkle[k]
        xs = np.linspace(geo.cx - 17, geo.cx + 17, 7)
        cv.line(np.column_stack([xs, y + 1.2 * np.sin(xs / 5)]), fill=line, width=0.9)
    for side in (-1, 1):
        ex = geo.cx + side * (geo.eye_dx + 10)
        for dy in (-3, 0, 3):
            cv.line(
                [(ex, geo.eye_y + dy * 0.4), (ex + side * 6, geo.eye_y + dy * 1.2)],
                fill=line,
                width=0.8,
            )
        nx = geo.cx + side * 8
        cv.line(
            [(nx, geo.nose_y - 2), (nx + side * 6, geo.nose_y + 8), (geo.cx + side * 16, geo.mouth_y + 3)],
            fill=_rgba(skin * 0.6, 170), width=1.1,
        )  # fmt: skip
        cv.line(
            [(geo.cx + side * 16, geo.mouth_y + 8), (geo.cx + side * 19, geo.chin_y - 10)],
            fill=line, width=0.9,
        )  # fmt: skip


def _draw_eyes(cv: _Canvas, attrs, style, geo: _Geometry, hair, skin) -> None:
    makeup = _on(attrs, "Heavy_Makeup")
    narrow = _on(attrs, "Narrow_Eyes")
    rx, ry = 7.5, (2.0 if narrow else 3.9)
    brow = hair * 0.6 if hair.mean() > 90 else hair * 0.9
    if _on(attrs, "Gray_Hair"):
        brow = np.array([120.0, 118, 118])
    bushy, arched = _on(attrs, "Bushy_Eyebrows"), _on(attrs, "Arched_Eyebrows")
    th = geo.brow_th + (2.2 if bushy else 0.0)
    brow_hairs, bags = _rgba(brow * 0.9, 220), skin * np.array([0.55, 0.48, 0.55])
    shadow = _rgba(style.eyeshadow, int(60 + 130 * style.strength[1]))
    for side in (-1, 1):
        ex = geo.cx + side * geo.eye_dx
        # eyebrow: a tapered band, arched or nearly flat
        u = np.linspace(0, 1, 9)
        xs = ex + side * (-9 + 20 * u)
        lift = (4.8 if arched else 1.4) * np.sin(np.pi * np.clip(u / 1.3, 0, 1)) ** (
            3 if arched else 1
        )
        ys = geo.eye_y - 10 - lift + (2.5 * u**2 if arched else 0)
        thick = th * (1.0 - 0.5 * u)
        cv.polygon(_band(xs, ys - thick / 2, ys + thick / 2), fill=_rgba(brow, 240))
        if bushy:
            for k, (su, sv, _) in enumerate(style.strands):
                x = ex + side * (-9 + 20 * su)
                y = geo.eye_y - 10 - th / 2 + sv * th
                cv.line([(x, y), (x + side * 2.5, y - 1.5 - k % 3)], fill=brow_hairs, width=0.7)
        if _on(attrs, "Bags_Under_Eyes"):
            t = np.linspace(0.15, np.pi - 0.15, 8)
            for dy, alpha in ((4.5, 110), (7.5, 80)):
                cv.line(
                    np.column_stack([ex - 6.5 * np.cos(t), geo.eye_y + dy + 2 * np.sin(t) - 1]),
                    fill=_rgba(bags, alpha), width=1.3,
                )  # fmt: skip
        if makeup:
            cv.ellipse(ex, geo.eye_y - 3.5, 9.5, 6.5, fill=shadow)
        # eye: almond shape, iris, pupil, lids
        x = np.linspace(-rx, rx, 13)
        top = -ry * (1 - (x / rx) ** 2) ** 0.8
        bot = ry * 0.75 * (1 - (x / rx) ** 2) ** 0.9
        cv.polygon(_band(ex + x, geo.eye_y + top, geo.eye_y + bot), fill=(240, 238, 232))
        iris_ry = min(3.3, ry * 0.95)
        cv.ellipse(ex, geo.eye_y, 3.3, iris_ry, fill=_rgba(style.iris, 255))
        cv.ellipse(ex, geo.eye_y, 1.4, min(1.4, iris_ry), fill=(12, 10, 10))
        lid = _rgba((35, 25, 25) if makeup else skin * 0.45, 255)
        cv.line(np.column_stack([ex + x, geo.eye_y + top]), fill=lid, width=2.0 if makeup else 1.0)
        if makeup:
            cv.line(
                [(ex + side * rx, geo.eye_y - 0.5), (ex + side * (rx + 3.5), geo.eye_y - 3)],
                fill=lid,
                width=1.3,
            )
        cv.line(np.column_stack([ex + x, geo.eye_y + bot]), fill=_rgba(skin * 0.6, 140), width=0.6)


def _draw_nose(cv: _Canvas, attrs, geo: _Geometry, skin) -> None:
    """Bridge shading, wings, nostrils; big = wider and longer, pointy = narrow sharp tip."""
    big, pointy = _on(attrs, "Big_Nose"), _on(attrs, "Pointy_Nose")
    nw = 12.5 if big else 6.5 if pointy else 8.5
    ny = geo.nose_y + (2.5 if big else 1.5 if pointy else 0.0)
    dark, shade = _rgba(skin * 0.6, 170), _rgba(skin * 0.72, 120)
    for side in (-1, 1):
        cv.line(
            [(geo.cx + side * 3.5, geo.eye_y + 3), (geo.cx + side * (nw * 0.42), ny - 5)],
            fill=shade, width=1.6 if big else 1.0,
        )  # fmt: skip
    if big:
        cv.ellipse(geo.cx, ny - 1.5, nw * 0.5, 6.5, fill=_rgba(skin * 0.88, 150))
    if pointy:
        cv.polygon([(geo.cx - 3, ny - 9), (geo.cx + 3, ny - 9), (geo.cx, ny + 2)], fill=shade)
        cv.line(
            [(geo.cx - 3.2, ny - 3), (geo.cx, ny + 2), (geo.cx + 3.2, ny - 3)], fill=dark, width=1.1
        )
        cv.line(
            [(geo.cx, geo.eye_y + 6), (geo.cx, ny - 5)], fill=_rgba(skin * 1.2 + 10, 150), width=1.0
        )
    for side in (-1, 1):
        wing = geo.cx + side * nw * 0.6
        t = np.linspace(-1.2, 1.6, 8)
        cv.line(
            np.column_stack([wing + side * nw * 0.28 * np.cos(t), ny - 1 + nw * 0.3 * np.sin(t)]),
            fill=dark, width=1.4 if big else 1.0,
        )  # fmt: skip
        cv.ellipse(
            geo.cx + side * nw * 0.3, ny + 1.5, nw * 0.17 + 0.5, nw * 0.09 + 0.6,
            fill=_rgba(skin * 0.35, 230),
        )  # fmt: skip
    cv.ellipse(geo.cx, ny - 2.5, nw * 0.22, 1.8, fill=_rgba(skin * 1.15 + 10, 120))


def _mouth_curves(attrs, geo: _Geometry) -> tuple[np.ndarray, ...]:
    big = _on(attrs, "Big_Lips")
    smile, open_ = _on(attrs, "Smiling"), _on(attrs, "Mouth_Slightly_Open")
    mw = 14.5 if smile else 12.5
    mw += 1.5 if big else 0.0
    ut, lt = (4.2, 5.4) if big else (2.4, 3.2)
    gap = (5.0 if smile else 3.2) if open_ else 0.0
    x = np.linspace(-mw, mw, 17)
    q = 1 - (x / mw) ** 2
    centre = geo.mouth_y + (3.5 * q - 2.5 if smile else 0.6 * q)
    upper_in = centre - gap * 0.35 * q
    lower_in = centre + gap * 0.65 * q
    bow = 0.9 * np.exp(-((x / 3.0) ** 2))
    upper_out = upper_in - ut * q**0.6 + bow * (ut / 3)
    lower_out = lower_in + lt * q**0.6
    return x + geo.cx, upper_in, lower_in, upper_out, lower_out


def _draw_mouth(cv: _Canvas, attrs, style, geo: _Geometry, skin) -> None:
    xs, upper_in, lower_in, upper_out, lower_out = _mouth_curves(attrs, geo)
    lips = skin * np.array([0.86, 0.62, 0.6]) + [18, 0, 0]
    if _on(attrs, "Wearing_Lipstick"):
        lips = lips + (style.lipstick - lips) * style.strength[0]
    if _on(attrs, "Mouth_Slightly_Open"):
        cv.polygon(_band(xs, upper_in, lower_in), fill=(70, 22, 28))
        if _on(attrs, "Smiling"):
            teeth_low = upper_in + (lower_in - upper_in) * 0.55
            cv.polygon(_band(xs[2:-2], upper_in[2:-2], teeth_low[2:-2]), fill=(238, 234, 222))
    cv.polygon(_band(xs, upper_out, upper_in), fill=_rgba(lips, 255))
    cv.polygon(_band(xs, lower_in, lower_out), fill=_rgba(lips * 0.95, 255))
    cv.line(np.column_stack([xs, upper_in]), fill=_rgba(lips * 0.5, 200), width=0.8)
    if _on(attrs, "Smiling"):
        for side, x in ((-1, xs[0]), (1, xs[-1])):
            cv.line(
                [(x + side * 1, upper_in[0] - 2), (x + side * 3, upper_in[0] + 2.5)],
                fill=_rgba(skin * 0.6, 160),
                width=0.9,
            )


def _region_points(style: _Style, geo: _Geometry, y0: float, y1: float) -> np.ndarray:
    """Stipple points inside the face between rows y0 and y1, off the lips."""
    pts = np.column_stack(
        [geo.cx + (style.stipple[:, 0] * 2 - 1) * geo.a, y0 + style.stipple[:, 1] * (y1 - y0)]
    )
    half = _face_half_width(geo, pts[:, 1])
    inside = np.abs(pts[:, 0] - geo.cx) < half - 1.0
    lips = ((pts[:, 0] - geo.cx) / 16) ** 2 + ((pts[:, 1] - geo.mouth_y) / 7) ** 2 < 1
    return pts[inside & ~lips]


def _draw_facial_hair(cv: _Canvas, attrs, style, geo: _Geometry, hair) -> tuple[bool, np.ndarray]:
    """Shadow stipple and beard/goatee; returns whether a moustache is due and its colour."""
    beard_rgb = hair * 0.75 if hair.mean() > 40 else hair + 8
    if _on(attrs, "5_o_Clock_Shadow"):
        pts = _region_points(style, geo, geo.nose_y + 4, geo.chin_y)
        lower = _face_outline(geo)
        lower = lower[lower[:, 1] > geo.nose_y + 6]
        cv.polygon(lower, fill=_rgba((60, 62, 75), int(30 + 35 * style.strength[2])))
        cv.dots(pts, fill=_rgba((45, 40, 45), int(60 + 60 * style.strength[2])))
    bearded = not _on(attrs, "No_Beard")
    goatee, moustache = _on(attrs, "Goatee"), _on(attrs, "Mustache")
    if bearded and not goatee and not moustache:
        top = geo.eye_y + 8
        t0 = math.asin(float(np.clip((top - geo.cy) / geo.b, -1, 1)))
        t = np.linspace(np.pi - t0, t0, 30)  # left ear, round the chin, right ear
        outer = _face_outline(geo, t, 1, 1.5)
        edge = _face_half_width(geo, top)
        right = [
            (geo.cx + edge - 4, top),
            (geo.cx + geo.a * 0.72, geo.nose_y + 4),
            (geo.cx + 17, geo.mouth_y - 3),
            (geo.cx + 13, geo.mouth_y + 7),
        ]
        inner = np.array(
            right + [(geo.cx, geo.mouth_y + 9)] + [(2 * geo.cx - x, y) for x, y in right[::-1]]
        )
        cv.polygon(np.vstack([outer, inner]), fill=_rgba(beard_rgb, 240))
        cv.dots(
            _region_points(style, geo, geo.mouth_y, geo.chin_y)[::2],
            fill=_rgba(beard_rgb * 0.6, 200),
        )
    if goatee:
        m = geo.mouth_y
        cv.polygon(
            [(geo.cx - 15, m - 1), (geo.cx - 12, m + 14), (geo.cx - 6, geo.chin_y - 1),
             (geo.cx + 6, geo.chin_y - 1), (geo.cx + 12, m + 14), (geo.cx + 15, m - 1),
             (geo.cx + 10, m + 7), (geo.cx - 10, m + 7)],
            fill=_rgba(beard_rgb, 245),
        )  # fmt: skip
    return moustache, beard_rgb


def _draw_moustache(cv: _Canvas, geo: _Geometry, colour) -> None:
    m = geo.mouth_y
    cv.polygon(
        [(geo.cx - 16, m + 1), (geo.cx - 11, m - 6.5), (geo.cx, m - 8), (geo.cx + 11, m - 6.5),
         (geo.cx + 16, m + 1), (geo.cx + 9, m - 3.0), (geo.cx, m - 3.8), (geo.cx - 9, m - 3.0)],
        fill=_rgba(colour, 250),
    )  # fmt: skip


def _draw_accessories(cv: _Canvas, attrs, style, geo: _Geometry, skin) -> None:
    """Earrings, rosy cheeks, eyeglasses, hat."""
    if _on(attrs, "Rosy_Cheeks"):
        for side in (-1, 1):
            x = geo.cx + side * (geo.eye_dx + 4)
            cv.ellipse(x, geo.nose_y + 1, 10, 7, fill=(225, 80, 95, 55))
            cv.ellipse(x, geo.nose_y + 1, 6, 4.5, fill=(225, 70, 90, 70))
    if _on(attrs, "Wearing_Earrings"):
        metal = [(225, 185, 60), (210, 210, 220), (200, 40, 80)][style.jewel]
        for side in (-1, 1):
            x = geo.cx + side * (_face_half_width(geo, geo.eye_y + 14) + 2)
            y = geo.eye_y + 17
            if style.jewel == 0:
                cv.ellipse(x, y + 5, 4, 5, outline=metal, width=1.4)
            else:
                cv.line([(x, y), (x, y + 4)], fill=metal, width=0.8)
                cv.ellipse(
                    x, y + 6, 2.6, 2.6, fill=metal, outline=_rgba(np.array(metal) * 0.6, 255)
                )
    if _on(attrs, "Eyeglasses"):
        frame = _rgba(style.frame_colour, 255)
        sunglasses = style.tint < 0.2
        lens = (20, 20, 25, 215) if sunglasses else (200, 220, 235, int(40 * style.tint))
        for side in (-1, 1):
            ex = geo.cx + side * geo.eye_dx
            box = cv.box(ex, geo.eye_y + 1, 11.5, 8)
            cv.draw.rounded_rectangle(
                box, radius=cv.w(4), fill=lens, outline=frame, width=cv.w(1.6)
            )
            ear = geo.cx + side * (_face_half_width(geo, geo.eye_y) + 1)
            cv.line(
                [(ex + side * 11.5, geo.eye_y - 2), (ear, geo.eye_y - 1)], fill=frame, width=1.4
            )
        cv.line(
            [
                (geo.cx - geo.eye_dx + 11, geo.eye_y - 1),
                (geo.cx, geo.eye_y - 3),
                (geo.cx + geo.eye_dx - 11, geo.eye_y - 1),
            ],
            fill=frame,
            width=1.4,
        )
    if _on(attrs, "Wearing_Hat"):
        colour = style.hat_colour
        brim_y = 70.0 if style.hat_kind != 2 else 64.0
        rx = geo.a + 9
        t = np.linspace(np.pi, 2 * np.pi, 24)
        crown = np.column_stack(
            [
                geo.cx + rx * np.cos(t),
                brim_y + (brim_y - 18) * 0.95 * np.sin(t) * (0.8 if style.hat_kind == 2 else 1),
            ]
        )
        cv.polygon(crown, fill=_rgba(colour, 255))
        if style.hat_kind == 0:  # cap with a peak
            cv.ellipse(geo.cx, brim_y + 1, rx + 3, 7, fill=_rgba(colour * 0.75, 255))
            cv.line([(geo.cx, 20), (geo.cx, brim_y - 2)], fill=_rgba(colour * 0.7, 255), width=0.8)
        elif style.hat_kind == 1:  # beanie with a folded band
            cv.trapezoid(geo.cx, rx, brim_y - 9, brim_y + 4, 0, 1, fill=_rgba(colour * 0.85, 255))
            for k in range(-6, 7):
                x = geo.cx + k * rx / 6.5
                cv.line(
                    [(x, brim_y - 8), (x, brim_y + 3)], fill=_rgba(colour * 0.65, 255), width=0.6
                )
        else:  # brimmed hat with a ribbon
            cv.ellipse(geo.cx, brim_y + 2, rx + 26, 9, fill=_rgba(colour * 0.85, 255))
            cv.polygon(
                crown[(crown[:, 1] < brim_y) & (crown[:, 1] > brim_y - 60)], fill=_rgba(colour, 255)
            )
            cv.trapezoid(geo.cx, rx, brim_y - 8, brim_y - 1, -1, 0, fill=_rgba(255 - colour, 255))


def _pose_and_finish(canvas: Image.Image, attrs, style: _Style) -> Image.Image:
    """Rotate, scale and shift the face, reduce to 178x218, blur, noise, JPEG artefacts."""
    angle, scale, dx, dy = style.pose
    theta = math.radians(angle)
    inv = (
        np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]]) / scale
    )
    c_out = np.array([89.0 + dx, 112.0 + dy])
    c_in = np.array([89.0 + _MARGIN, 112.0 + _MARGIN])
    offset = c_in - inv @ c_out
    matrix = (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1])
    image = canvas.reduce(_SCALE).transform(
        (IMAGE_WIDTH, IMAGE_HEIGHT), Image.AFFINE, matrix, resample=Image.BILINEAR
    )
    if _on(attrs, "Blurry"):
        image = image.filter(ImageFilter.GaussianBlur(style.blur))
    arr = np.asarray(image, dtype=np.float32) * style.gain + style.bias
    arr += (style.noise - 0.5) * (style.noise_sigma * 3.464)  # uniform noise, sd = sigma
    image = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=style.quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def draw_face(attrs: Mapping[str, int], rng: np.random.Generator) -> Image.Image:
    """Draw a 178x218 RGB face showing ``attrs`` (name -> -1/1); randomness comes from ``rng``.

    The number of draws from ``rng`` does not depend on ``attrs``: the same seed with one
    attribute flipped gives the same face, differing only where that attribute shows.
    """
    missing = [a for a in ATTRIBUTES if a not in attrs]
    if missing:
        raise SynthError(f"draw_face: attributes missing from the row: {', '.join(missing)}")
    style = _sample_style(rng)
    geo = _geometry(attrs, style)
    skin, hair = _skin(attrs, style), _hair_colour(attrs, style)
    canvas = _background(style)
    cv = _Canvas(ImageDraw.Draw(canvas, "RGBA"))
    _draw_back(cv, attrs, style, geo, hair, skin)
    _draw_head(cv, attrs, style, geo, hair, skin)
    _draw_eyes(cv, attrs, style, geo, hair, skin)
    _draw_nose(cv, attrs, geo, skin)
    moustache, beard_rgb = _draw_facial_hair(cv, attrs, style, geo, hair)
    _draw_mouth(cv, attrs, style, geo, skin)
    if moustache:
        _draw_moustache(cv, geo, beard_rgb)
    _draw_accessories(cv, attrs, style, geo, skin)
    return _pose_and_finish(canvas, attrs, style)


# ----------------------------------------------------------------------------------- datasets
def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image ``index`` (0-based) of dataset ``seed``."""
    return np.random.default_rng([seed, _IMAGE_STREAM, index])


def _records(attributes: pd.DataFrame) -> list[dict[str, int]]:
    """The rows of ``attributes`` as name -> -1/1 dicts, the input of ``draw_face``."""
    return attributes[list(ATTRIBUTES)].astype(int).to_dict("records")


def _jpeg(row: Mapping[str, int], seed: int, index: int) -> bytes:
    """The JPEG file of image ``index`` (0-based) of dataset ``seed``, showing ``row``."""
    buffer, image = io.BytesIO(), draw_face(row, image_rng(seed, index))
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)  # in memory, as test_io allows
    return buffer.getvalue()


def _write_images(job: tuple[Path, int, int, list[dict[str, int]], list[str]]) -> int:
    """Draw and save one chunk of images, the first being image ``start``; returns how many were
    written."""
    image_dir, seed, start, rows, names = job
    for index, (row, name) in enumerate(zip(rows, names, strict=True), start=start):
        with atomic_path(image_dir / name) as tmp:
            tmp.write_bytes(_jpeg(row, seed, index))
    return len(rows)


def write_images(attributes: pd.DataFrame, image_dir: Path, seed: int, workers: int = 1) -> None:
    """Draw every row of ``attributes`` into ``image_dir`` (serially or with a process pool).

    Image ``i`` (0-based row) always comes from ``image_rng(seed, i)``, so the bytes do not
    depend on ``workers``.
    """
    image_dir.mkdir(parents=True, exist_ok=True)
    chunk = max(1, min(64, math.ceil(len(attributes) / (4 * max(1, workers)))))
    records = _records(attributes)
    names = attributes["image_id"].tolist()
    jobs = [
        (image_dir, seed, s, records[s : s + chunk], names[s : s + chunk])
        for s in range(0, len(names), chunk)
    ]
    if workers <= 1:
        for job in jobs:
            _write_images(job)
        return
    # fork where available: spawn re-imports __main__, which breaks callers such as Snakemake
    # script wrappers; the workers only draw with PIL and numpy.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with context.Pool(workers) as pool:
        for _ in pool.imap_unordered(_write_images, jobs):
            pass


def encode_images(attributes: pd.DataFrame, seed: int) -> list[bytes]:
    """The JPEG bytes ``write_images`` would write for every row of ``attributes``."""
    return [_jpeg(row, seed, index) for index, row in enumerate(_records(attributes))]


def write_hub_shards(attributes: pd.DataFrame, root: Path, seed: int, shards: int) -> Path:
    """The huggingface layout: the same faces and attributes as parquet shards in
    ``root/img_align+identity+attr``, split train/valid/test by ``partition`` with ``shards``
    shards per split (fewer when a split has fewer rows); returns the first train shard."""
    images = encode_images(attributes, seed)
    frame = attributes.assign(celeb_id=np.arange(len(attributes), dtype=np.int64) // 3 + 1)
    codes = partition(len(attributes))
    folder = root / HUB_CONFIG
    for code, split in enumerate(("train", "valid", "test")):
        rows = np.flatnonzero(codes == code)
        parquet.write_shards(
            frame.iloc[rows],
            [images[i] for i in rows],
            folder,
            split,
            min(shards, max(1, len(rows))),
        )
    return parquet.list_shards(folder)[0]


def partition(n: int) -> np.ndarray:
    """Official-style partition codes by id order: 80 % train (0), 10 % valid (1), 10 % test (2)."""
    train_end, val_end = round(0.8 * n), round(0.9 * n)
    codes = np.full(n, 2, dtype=int)
    codes[:train_end] = 0
    codes[train_end:val_end] = 1
    return codes


def original_attr_text(attributes: pd.DataFrame) -> str:
    """``list_attr_celeba.txt`` text: count, names, then right-aligned -1/1 columns."""
    lines = [str(len(attributes)), " ".join(ATTRIBUTES)]
    values = attributes[list(ATTRIBUTES)].to_numpy(dtype=int)
    for name, row in zip(attributes["image_id"], values, strict=True):
        lines.append(name + "".join(f" {v:>2d}" for v in row))
    return "\n".join(lines) + "\n"


def generate(
    root: str | Path,
    n_images: int,
    seed: int,
    layout: str = "kaggle",
    workers: int = 1,
    group_rates: GroupRates | None = None,
    shards: int = 2,
) -> Path:
    """Write a synthetic CelebA of ``n_images`` under ``root`` in ``layout``; return its attribute
    file (huggingface: its first train shard, of ``shards`` per split). ``root`` must be new,
    empty, or written by the generator before (it leaves a ``SYNTHETIC_MARKER`` file): a folder
    with anything else is refused, never written into. ``group_rates`` plants
    P(attribute | male / female) (``sample_attributes``); None, the default, writes exactly the
    files written without it."""
    if layout not in LAYOUTS:
        raise SynthError(
            f"generate: unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}"
        )
    if n_images < 1 or seed < 0:
        raise SynthError(f"generate: need n_images >= 1 and seed >= 0, got {n_images}, {seed}")
    root = Path(root)
    check_synthetic_target(root)  # never into a real dataset
    attributes = sample_attributes(n_images, seed, group_rates=group_rates)  # checks the rates
    planted = "" if group_rates is None else f", group rates {dict(group_rates)}"
    write_text(
        root / SYNTHETIC_MARKER,
        f"celeba-gender synthetic data: {n_images} images, seed {seed}{planted}\n",
    )
    codes = partition(n_images)
    if layout == "huggingface":
        return write_hub_shards(attributes, root, seed, shards)
    if layout == "kaggle":
        image_dir, attr_file = root / KAGGLE_IMAGES[0], root / KAGGLE_ATTR
    elif layout == "celeba30k":
        image_dir, attr_file = root / CELEBA30K_IMAGES, root / CELEBA30K_ATTR
    else:
        image_dir, attr_file = root / ORIGINAL_IMAGES, root / ORIGINAL_ATTR
    write_images(attributes, image_dir, seed, workers)
    if layout == "kaggle":
        write_csv(attr_file, attributes)
        write_csv(
            root / KAGGLE_PARTITION,
            pd.DataFrame({"image_id": attributes["image_id"], "partition": codes}),
        )
    elif layout == "celeba30k":
        write_csv(attr_file, attributes.rename(columns={"image_id": "filename"}))
    else:
        write_text(attr_file, original_attr_text(attributes))
        lines = [f"{name} {code}" for name, code in zip(attributes["image_id"], codes, strict=True)]
        write_text(root / ORIGINAL_PARTITION, "\n".join(lines) + "\n")
    return attr_file


def main(argv: Sequence[str] | None = None) -> Path:
    """Command line: ``python -m celeba_gender.synth --root DIR --n N --seed S --layout L``."""
    parser = argparse.ArgumentParser(description="Write a synthetic CelebA-format dataset.")
    parser.add_argument("--root", required=True, type=Path, help="output folder")
    parser.add_argument("--n", type=int, default=2000, help="number of images")
    parser.add_argument("--seed", type=int, default=0, help="seed (same seed, same files)")
    parser.add_argument("--layout", choices=LAYOUTS, default="kaggle", help="CelebA layout")
    parser.add_argument("--workers", type=int, default=1, help="processes drawing images")
    args = parser.parse_args(argv)
    path = generate(args.root, args.n, args.seed, args.layout, args.workers)
    print(path)
    return path


if __name__ == "__main__":
    main()


@dataclass(frozen=True)
class SynthesizeJob:
    """The synthesize rule: a synthetic CelebA of ``n_images`` under ``root`` in ``layout``."""

    root: str
    n_images: int
    seed: int
    layout: str
    threads: int
    out_attributes: str
    group_rates: GroupRates | None = None  # synthetic.group_rates (docs/groups.md)


def synthesize(job: SynthesizeJob) -> Path:
    """Generate the dataset; its attribute file must be the rule's output."""
    attributes = generate(
        job.root, job.n_images, job.seed, job.layout, workers=job.threads,
        group_rates=job.group_rates,
    )  # fmt: skip
    if attributes.resolve() != Path(job.out_attributes).resolve():
        raise SynthError(f"synthesize wrote {attributes}, the rule expects {job.out_attributes}")
    log.info("synthetic dataset written: %s", attributes)
    return attributes
