"""A report's blocks as one self-contained HTML page, Markdown rendered by markdown-it-py.

Figures become ``<figure>`` elements with the PNG inlined (``data:`` URI) and the caption
as ``<figcaption>``; an image inside text is inlined the same way. Headings get the same
anchors as the Markdown table of contents (:class:`~xladjust.probes.report_doc.Slugger`),
and table columns whose cells are all figures are right-aligned while label columns stay
left-aligned.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xladjust.probes.report_doc import Block, Figure, Slugger, is_number

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;"
    "line-height:1.45}table{border-collapse:collapse;margin:1em 0;font-size:.92em}"
    "td,th{border:1px solid #bbb;padding:3px 8px;text-align:left;vertical-align:top}th{background:#eee}"
    "img{max-width:100%}figure{margin:1.2em 0;padding:.5em;border:1px solid #e4e4e4}"
    "figcaption{font-size:.9em;color:#444;margin-top:.3em}code{background:#f4f4f4;padding:0 2px}"
    "pre{background:#f6f6f6;padding:.6em;overflow:auto}nav.toc{background:#fafafa;border:1px solid #ddd;"
    "padding:.3em 1em;margin:1em 0}blockquote{background:#fff3cd;border-left:4px solid #e0c36b;margin:1em 0;"
    "padding:.4em 1em}"
)


def _markdown_it() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.core.ruler.push("xladjust_tables", _align_number_columns)
    return md


def _align_number_columns(state: Any) -> None:
    """Right-align table columns whose body cells are all figures, where the table's
    own alignment row left the column unset."""
    tokens = state.tokens
    i = 0
    while i < len(tokens):
        if tokens[i].type != "table_open":
            i += 1
            continue
        end = next(k for k in range(i, len(tokens)) if tokens[k].type == "table_close")
        cells: dict[int, list[str]] = {}
        opens: dict[int, list[Any]] = {}
        column = 0
        in_body = False
        for k in range(i, end):
            t = tokens[k]
            if t.type == "tbody_open":
                in_body = True
            elif t.type == "tr_open":
                column = 0
            elif t.type in ("th_open", "td_open"):
                opens.setdefault(column, []).append(t)
                if in_body:
                    cells.setdefault(column, []).append(tokens[k + 1].content)
                column += 1
        for col, found in opens.items():
            if any(t.attrGet("style") for t in found):
                continue
            numeric = bool(cells.get(col)) and all(is_number(c) for c in cells[col])
            for t in found:
                t.attrSet("style", f"text-align:{'right' if numeric else 'left'}")
        i = end + 1


def _data_uri(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _resolve(src: str, base: Path) -> Path | None:
    if "://" in src or src.startswith(("data:", "#", "/")):
        return None
    path = base / src
    return path if path.is_file() else None


class _Renderer:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.md = _markdown_it()
        self.slug = Slugger()
        # markdown-it binds a render rule to its renderer: rule(renderer, tokens, idx, options, env)
        self.md.add_render_rule("heading_open", lambda r, *args: self._heading_open(r, *args))
        self.md.add_render_rule("image", lambda r, *args: self._image(r, *args))

    def _heading_open(self, renderer: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("id", self.slug(tokens[idx + 1].content))
        return renderer.renderToken(tokens, idx, options, env)

    def _image(self, renderer: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        path = _resolve(token.attrGet("src") or "", self.base)
        if path is not None:
            token.attrSet("src", _data_uri(path))
        alt = renderer.renderInlineAsText(token.children or [], options, env)
        return f'<img src="{html.escape(token.attrGet("src") or "")}" alt="{html.escape(alt)}">'

    def block(self, block: Block) -> str:
        if isinstance(block, Figure):
            return self.figure(block)
        return self.md.render(block.markdown)

    def figure(self, figure: Figure) -> str:
        path = _resolve(figure.src, self.base)
        src = _data_uri(path) if path is not None else figure.src
        caption = self.md.renderInline(figure.caption)
        pdf = f', <a href="{html.escape(figure.pdf)}">PDF</a>' if figure.svg and figure.pdf else ""
        svg = f' (<a href="{html.escape(figure.svg)}">SVG</a>{pdf})' if figure.svg else ""
        return (f'<figure><img src="{html.escape(src)}" alt="{html.escape(figure.caption)}">'
                f"<figcaption>{caption}{svg}</figcaption></figure>\n")


def render_html(blocks: Sequence[Block], *, title: str, base: Path) -> str:
    """The page; relative image paths are read from ``base`` (the report's folder)."""
    renderer = _Renderer(Path(base))
    body = "".join(renderer.block(b) for b in blocks)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n")


def markdown_to_html(text: str) -> str:
    """One Markdown text as an HTML fragment (images left as they are)."""
    return _markdown_it().render(text)
