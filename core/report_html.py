"""The look of Coreg's HTML pages (the run report of the panel, the DEM report): one
style sheet and one page shell, self-contained (no external file, no script)."""

from __future__ import annotations

import datetime
import html

STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #222; max-width: 1000px;
       margin: 24px auto; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em;
  border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #d0d0d0; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.summary td:first-child { font-weight: bold; white-space: nowrap; }
.summary td.explain { color: #555; font-size: 0.9em; }
.warning { background: #fff4ce; border-left: 4px solid #e0a800; padding: 6px 10px; }
.rejected td { color: #777; }
figure { margin: 0.6em 0; } figure img { max-width: 100%; border: 1px solid #ccc; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 6px 0; font-size: 0.9em; }
.legend span { display: inline-flex; align-items: center; gap: 6px; }
.maps { display: flex; flex-wrap: wrap; gap: 12px; }
"""


def esc(value) -> str:
    return html.escape(str(value))


def page(title: str, body: str, meta: str = "") -> str:
    """An HTML document: ``title`` as heading, the time written (and ``meta``), ``body``."""
    written = f"Written {datetime.datetime.now():%Y-%m-%d %H:%M}" + (f", {meta}" if meta else "")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{esc(title)}</h1><p class='meta'>{esc(written)}</p>{body}</body></html>\n")
