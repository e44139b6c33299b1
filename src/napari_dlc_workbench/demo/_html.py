"""Small HTML helpers of the demo report: escaping, numbers, tables, embedded PNGs."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
.ok { color: #1a7f37; font-weight: bold; } .failed { color: #c62828; font-weight: bold; }
.note { color: #666; font-style: italic; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return esc(value)


def percent(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.0f} %"


def img(png: bytes, alt: str, caption: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    text = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{data}">{text}</figure>'


def figure(draw: Callable[[], bytes], alt: str, caption: str = "") -> str:
    try:
        return img(draw(), alt, caption)
    except Exception as exc:  # one bad figure must not cost the whole report
        return f'<p class="note">{esc(alt)}: figure unavailable ({esc(type(exc).__name__)}: {esc(exc)})</p>'


def table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[int] = frozenset()
) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def missing(step: str) -> str:
    return f'<p class="note">Step “{esc(step)}” did not run.</p>'


def read_image(path: Path) -> Any:
    from imageio.v3 import imread

    return imread(path)
