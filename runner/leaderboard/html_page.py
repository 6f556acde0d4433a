"""leaderboard/index.html: the same tables as README.md, plus one plot per problem.

A single static file (inline CSS and SVG, no scripts, no external assets), byte-identical
for the same records.
"""

from __future__ import annotations

from html import escape

from runner.leaderboard.markdown_page import CHECKS_ANCHOR, CHECKS_TEXT, CHECKS_TITLE, INTRO
from runner.leaderboard.metric_info import direction_text, format_value, info
from runner.leaderboard.svg_plot import Point, scatter_svg
from runner.leaderboard.tables import (
    CHECK_HEADER, TIER_TEXT, Cell, Entry, Section, check_row, format_duration, provenance_text,
)

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
table.references { background: #f7f7f2; }
code { font-size: 0.9em; }
ol.details li { margin-bottom: 0.4em; font-size: 0.9em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
""".strip()


def render_html(sections: list[Section], checks: list[Entry] = ()) -> str:
    intro = [p for p in INTRO.split("\n\n") if p.strip()]
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           "<title>runner leaderboard</title>", f"<style>\n{STYLE}\n</style>", "</head>", "<body>",
           "<h1>Leaderboard</h1>"]
    out += [f"<p>{_inline(' '.join(p.split()))}</p>" for p in intro[1:]]
    out.append("<p>Tiers (only <code>cpu</code> and <code>gpu</code> results are ranked):</p>")
    out.append("<ul>" + "".join(f"<li><code>{escape(t)}</code>: {escape(x)}</li>" for t, x in TIER_TEXT.items())
               + "</ul>")
    if not sections and not checks:
        out.append("<p>No records yet.</p>")
    for section in sections:
        out += _section(section)
    if checks:
        out += [f'<h2 id="{CHECKS_ANCHOR}">{escape(CHECKS_TITLE)}</h2>', f"<p>{escape(CHECKS_TEXT)}</p>"]
        out += _table(CHECK_HEADER, [check_row(e) for e in checks], css="checks")
        out.append('<ol class="details">')
        out += [f"<li><code>{escape(e.record.command)}</code></li>" for e in checks]
        out.append("</ol>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _section(section: Section) -> list[str]:
    out = [f'<h2 id="{section.anchor}">{escape(section.title)}</h2>',
           f"<p><code>{escape(section.metric)}</code> on the test split, {direction_text(section.metric)}.</p>"]
    if section.entries:
        out += _table(section.header(), section.rows())
        out.append('<ol class="details">')
        for entry in section.entries:
            r = entry.record
            out.append(f"<li><code>{escape(r.command)}</code><br>{escape(provenance_text(r))}<br>"
                       f"signature: <code>{escape(r.signature)}</code></li>")
        out.append("</ol>")
        out.append('<div class="plots">')
        out += [_plot(section, problem) for problem in sorted({e.record.problem for e in section.entries})]
        out.append("</div>")
    else:
        out.append("<p>No records of ours yet.</p>")
    if section.references:
        out.append("<p>Published reference figures (not ours: other data sets and setups):</p>")
        out += _table(section.reference_header(), section.reference_rows(), css="references")
    return out


def _plot(section: Section, problem: str) -> str:
    label = info(section.metric).label
    points = [
        Point(seconds=r.wall_time_seconds, value=r.value, label=f"#{rank} {r.hparams_set}",
              tooltip=f"#{rank} {r.model}/{r.hparams_set} ({r.tier}): {format_value(r.metric, r.value)} after "
                      f"{r.steps} steps, {format_duration(r.wall_time_seconds)}; spec {r.spec_hash[:12]}",
              tier=r.tier)
        for rank, r in ((rank, e.record) for rank, e in enumerate(section.entries, start=1))
        if r.problem == problem
    ]
    # The title names the problem only: the axes name the metric and the time, and a longer title
    # would run into the legend beside it.
    return scatter_svg(points, title=problem, y_label=label,
                       y_text=lambda v: format_value(section.metric, v))


def _table(header: list[str], rows: list[list[Cell]], css: str = "") -> list[str]:
    out = [f'<table class="{css}">' if css else "<table>",
           "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>"]
    out += ["<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows]
    out.append("</table>")
    return out


def _cell(cell: Cell) -> str:
    if cell.kind == "code":
        return f"<td><code>{escape(cell.text)}</code></td>"
    if cell.kind == "link":
        return f'<td><a href="{escape(cell.href)}">{escape(cell.text)}</a></td>'
    if cell.kind == "number":
        return f'<td class="number">{escape(cell.text)}</td>'
    return f"<td>{escape(cell.text)}</td>"


def _inline(text: str) -> str:
    """Escape a paragraph of the intro, turning its `code` spans into <code>."""
    parts = escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
