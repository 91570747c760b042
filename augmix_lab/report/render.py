"""Writes tables as Markdown, CSV and LaTeX, and the single offline ``index.html`` page."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from pathlib import Path

from augmix_lab.report.tables import Table


def to_markdown(table: Table) -> str:
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = [f"### {table.title}", ""]
    if table.rows:
        lines += [row(table.header), row(["---"] * len(table.header))] + [row(r) for r in table.rows]
    else:
        lines.append("none")  # like the HTML page: no header over an empty table
    if table.notes:
        lines.append("")
        lines += [f"{n}  " for n in table.notes]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.header)
    writer.writerows(table.rows)
    return buf.getvalue()


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_TEX_SYMBOLS = {"±": r"$\pm$", "†": r"$^\dagger$", "—": "--", "Δ": r"$\Delta$", "−": "-", "×": r"$\times$"}


def tex_escape(text: str) -> str:
    out = "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)
    for symbol, tex in _TEX_SYMBOLS.items():
        out = out.replace(symbol, tex)
    return out


def to_latex(table: Table) -> str:
    """A booktabs table (needs ``\\usepackage{booktabs}``)."""
    spec = "l" * min(3, len(table.header)) + "r" * max(0, len(table.header) - 3)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{tex_escape(table.title)}}}",
        rf"\label{{tab:{table.name.replace('_', '-')}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(tex_escape(h) for h in table.header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(tex_escape(c) for c in r) + r" \\" for r in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.notes:
        lines.append(r"\par\footnotesize " + " ".join(tex_escape(n) for n in table.notes))
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


WRITERS = {"md": to_markdown, "csv": to_csv, "tex": to_latex}


def write_table(table: Table, out_dir: Path, formats: Sequence[str]) -> dict[str, str]:
    """Writes the table in each requested file format; returns format -> path relative to the report root."""
    written: dict[str, str] = {}
    for fmt in formats:
        if fmt in WRITERS:
            path = out_dir / "tables" / f"{table.name}.{fmt}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(WRITERS[fmt](table), encoding="utf-8")
            written[fmt] = f"tables/{table.name}.{fmt}"
    return written


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1200px;color:#111;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #bbb}h3{font-size:1.05rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}
th,td{border:1px solid #999;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#eee}td:nth-child(-n+3){text-align:left}
.notes{font-size:.8rem;color:#333}.links{font-size:.8rem}
figure{display:inline-block;margin:.6rem;vertical-align:top}figure img{max-width:560px;border:1px solid #ccc}
figcaption{font-size:.8rem}.meta{font-size:.85rem;color:#333}
"""

# Marks on <body> whether every image decoded (naturalWidth > 0), so a headless browser can check the page.
_IMAGE_CHECK = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  document.body.setAttribute("data-images-total", String(imgs.length));
  document.body.setAttribute("data-images-broken", broken.map(function (i) { return i.getAttribute("src"); }).join(" "));
  document.body.setAttribute("data-images-status", broken.length === 0 ? "ok" : "broken");
});
"""


def table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in table.rows)
    if not table.rows:
        body = f'<tr><td colspan="{len(table.header)}">none</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_index(
    out_dir: Path,
    *,
    title: str,
    meta: Sequence[str],
    tables: Sequence[tuple[Table, dict[str, str]]],
    plots: Sequence[tuple[str, str, dict[str, str]]],
) -> Path:
    """One self-contained page: inline CSS, relative links only, no external resources."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "".join(f'<p class="meta">{html.escape(m)}</p>' for m in meta),
        "<h2>Tables</h2>",
    ]
    for table, files in tables:
        parts.append(f'<section id="{html.escape(table.name)}"><h3>{html.escape(table.title)}</h3>')
        parts.append(table_html(table))
        if table.notes:
            parts.append("".join(f'<p class="notes">{html.escape(n)}</p>' for n in table.notes))
        if files:
            links = " · ".join(f'<a href="{html.escape(p)}">{html.escape(f)}</a>' for f, p in sorted(files.items()))
            parts.append(f'<p class="links">Download: {links}</p>')
        parts.append("</section>")
    parts.append("<h2>Plots</h2>")
    if not plots:
        parts.append("<p>No plots: no finished runs with the metrics they need.</p>")
    for caption, png, files in plots:
        links = " · ".join(f'<a href="{html.escape(p)}">{html.escape(fmt)}</a>' for fmt, p in sorted(files.items()))
        parts.append(
            f'<figure><img src="{html.escape(png)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)} ({links})</figcaption></figure>"
        )
    parts.append(f"<script>{_IMAGE_CHECK}</script>")
    parts.append("</body></html>")
    path = out_dir / "index.html"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path
