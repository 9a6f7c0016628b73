"""py-spy's collapsed stacks → a flame graph (SVG) and a "where the time goes" breakdown.

py-spy records ``--format raw`` (one ``frame;frame;…;frame count`` line per distinct stack), so
the same samples give both the picture and the numbers the README quotes; the SVG is drawn
here because the raw format is the only one the numbers can be read back from.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

WIDTH = 1600
ROW = 17
MIN_WIDTH_PX = 0.3

#: Where a sample's time goes, by the innermost frame of ours or a library's that it is in.
#: Checked in order against every frame from the leaf up: the first match names the category.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("imports at run time (importlib)", ("<frozen importlib", "importlib/")),
    ("logging (structlog JSON lines)", ("structlog/", "logging/__init__", "json/encoder")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("PostgreSQL client (asyncpg)", ("asyncpg/",)),
    (
        "Notion client (notion_client + httpx, over aiohttp's client)",
        ("notion_client/", "httpx/", "httpcore/", "notion/transport.py", "aiohttp/client"),
    ),
    ("RabbitMQ client (aio_pika + aiormq + pamqp)", ("aio_pika/", "aiormq/", "pamqp/")),
    ("aiohttp (the API's and ops servers; the worker's HTTP client)", ("aiohttp/",)),
    ("notion-batch code", ("notion_batch/",)),
    ("asyncio event loop and the rest", ("",)),
)


@dataclass
class Node:
    name: str
    samples: int = 0
    children: dict[str, Node] = field(default_factory=dict)


#: Path prefixes dropped from frame names: the venv's and the interpreter's, and ours up to
#: the namespace package, so a frame reads "asyncpg/pool.py" or "notion_batch/worker/tick.py".
_PREFIXES = (
    re.compile(r"/[^ ;()]*/site-packages/"),
    re.compile(r"/[^ ;()]*/bin/(?=notion-batch)"),
    re.compile(r"/[^ ;()]*/lib/python3\.\d+/"),
    re.compile(r"/[^ ;()]*/(?=notion_batch/)"),
)


def tidy(text: str) -> str:
    for prefix in _PREFIXES:
        text = prefix.sub("", text)
    return text


def read_collapsed(path: Path) -> Counter[tuple[str, ...]]:
    """py-spy's raw output, frame names tidied (see ``tidy``)."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(tidy(stack).split(";"))] += int(count)
    return stacks


def tidy_file(path: Path) -> None:
    """Rewrite a raw profile with tidied frame names (shorter, and no local paths)."""
    path.write_text(tidy(path.read_text(errors="replace")))


def _module(frame: str) -> str:
    # py-spy frames look like "function (path/to/module.py:123)".
    start = frame.rfind("(")
    return frame[start + 1 :] if start >= 0 else frame


def breakdown(stacks: Counter[tuple[str, ...]]) -> dict[str, float]:
    """Share of samples per category (see CATEGORIES), largest first, in percent."""
    total = sum(stacks.values()) or 1
    shares: Counter[str] = Counter()
    for stack, count in stacks.items():
        shares[_categorise(stack)] += count
    return {name: round(100 * n / total, 1) for name, n in shares.most_common()}


def _categorise(stack: tuple[str, ...]) -> str:
    for frame in reversed(stack):
        module = _module(frame)
        for name, needles in CATEGORIES[:-1]:
            if any(needle in module for needle in needles):
                return name
    return CATEGORIES[-1][0]


def top_functions(stacks: Counter[tuple[str, ...]], limit: int = 15) -> list[tuple[str, float]]:
    """Functions of notion-batch by inclusive share of samples (each counted once per stack)."""
    total = sum(stacks.values()) or 1
    inclusive: Counter[str] = Counter()
    for stack, count in stacks.items():
        # Entry points (main, the service runner) hold every sample: they say nothing.
        seen = {f for f in stack if "notion_batch/" in f and not _ENTRY_POINTS.search(_module(f))}
        for frame in seen:
            inclusive[_short(frame)] += count
    return [(name, round(100 * n / total, 1)) for name, n in inclusive.most_common(limit)]


def hotspots(stacks: Counter[tuple[str, ...]], limit: int = 12) -> list[tuple[str, float]]:
    """Leaf frames (where the CPU actually was) by share of samples."""
    total = sum(stacks.values()) or 1
    leaves: Counter[str] = Counter()
    for stack, count in stacks.items():
        leaves[stack[-1]] += count
    return [(name, round(100 * n / total, 1)) for name, n in leaves.most_common(limit)]


_ENTRY_POINTS = re.compile(r"notion_batch/(\w+/main\.py|common/lifecycle\.py)")


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, _line = where.rpartition(":")
    module = path.split("notion_batch/", 1)[-1].removesuffix(".py").replace("/", ".")
    return f"{module}.{name}"


def render_svg(stacks: Counter[tuple[str, ...]], title: str, out: Path) -> None:
    root = Node("all")
    for stack, count in stacks.items():
        root.samples += count
        node = root
        for frame in stack:
            node = node.children.setdefault(frame, Node(frame))
            node.samples += count
    rects: list[str] = []
    depth = _draw(root, 0.0, 0, _Canvas(WIDTH / max(root.samples, 1), root.samples, rects))
    height = (depth + 3) * ROW
    out.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="monospace" font-size="11">\n'
        f'<rect width="100%" height="100%" fill="#fdfdf6"/>\n'
        f'<text x="6" y="{ROW - 4}" font-size="13">{html.escape(title)} — '
        f"{root.samples} samples; hover a frame for its share</text>\n"
        + "\n".join(rects)
        + "\n</svg>\n"
    )


@dataclass
class _Canvas:
    scale: float  # pixels per sample
    total: int
    rects: list[str]


def _draw(node: Node, x: float, level: int, canvas: _Canvas) -> int:
    scale, total, rects = canvas.scale, canvas.total, canvas.rects
    width = node.samples * scale
    if width < MIN_WIDTH_PX:
        return level
    y = (level + 1) * ROW + 4
    share = 100 * node.samples / max(total, 1)
    label = html.escape(f"{node.name} ({node.samples} samples, {share:.1f}%)")
    color = _color(node.name)
    text = ""
    if width > 40:
        chars = int(width / 6.6)
        text = f'<text x="{x + 3:.1f}" y="{y + ROW - 5}">{html.escape(node.name[:chars])}</text>'
    rects.append(
        f'<g><title>{label}</title><rect x="{x:.2f}" y="{y}" width="{width:.2f}" '
        f'height="{ROW - 1}" fill="{color}" rx="2"/>{text}</g>'
    )
    deepest = level
    child_x = x
    for child in sorted(node.children.values(), key=lambda c: c.name):
        deepest = max(deepest, _draw(child, child_x, level + 1, canvas))
        child_x += child.samples * scale
    return deepest


def _color(frame: str) -> str:
    module = _module(frame)
    if "notion_batch/" in module:
        return "#f2a65a"
    if "asyncpg/" in module:
        return "#7fb3d5"
    if any(m in module for m in ("httpx/", "httpcore/", "notion_client/")):
        return "#82c99a"
    if any(m in module for m in ("structlog/", "logging/")):
        return "#d7a1e0"
    if any(m in module for m in ("aio_pika/", "aiormq/", "pamqp/")):
        return "#e6d36c"
    return "#d9d9d9"
