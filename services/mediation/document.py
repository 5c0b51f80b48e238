"""The agreement document 调解协议书: Chinese text from a Jinja2 template, typeset as a PDF.

reportlab's built-in CID font STSong-Light needs no font file (the reader supplies the
glyphs), and `invariant` output makes the same agreement give the same bytes, so its
sha256 identifies the document: a later change to the stored PDF is detectable.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from services.mediation.domain.outcomes import chinese_numeral

TEMPLATES = Path(__file__).resolve().parent / "templates"
AGREEMENT_TEMPLATE = "agreement.txt.j2"
FONT = "STSong-Light"
TITLE_SIZE, BODY_SIZE, LEADING = 20, 12, 20
MARGIN = 25 * mm

if FONT not in pdfmetrics.getRegisteredFontNames():
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _environment(directory: Path) -> Environment:
    # Plain text for a PDF, not HTML: nothing to escape; a missing variable is a bug, not a blank.
    env = Environment(loader=FileSystemLoader(str(directory)), undefined=StrictUndefined,
                      autoescape=False, trim_blocks=True, lstrip_blocks=True)
    env.filters["chinese_numeral"] = chinese_numeral
    return env


def render_text(context: dict, directory: Path = TEMPLATES, template: str = AGREEMENT_TEMPLATE) -> str:
    return _environment(directory).get_template(template).render(**context)


def _wrap(line: str, width: float) -> list[str]:
    """Break a line to the page width character by character (Chinese has no spaces to break at)."""
    pieces, current = [], ""
    for char in line:
        if current and pdfmetrics.stringWidth(current + char, FONT, BODY_SIZE) > width:
            pieces.append(current)
            current = char
        else:
            current += char
    pieces.append(current)
    return pieces


def render_pdf(text: str, *, subject: str) -> bytes:
    """Typeset the text: its first line is the title, blank lines are paragraph gaps."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    page_width, page_height = A4
    usable = page_width - 2 * MARGIN
    lines = text.strip("\n").splitlines()
    title, body = lines[0].strip(), lines[1:]
    pdf.setTitle(title)
    pdf.setSubject(subject)
    pdf.setFont(FONT, TITLE_SIZE)
    pdf.drawCentredString(page_width / 2, page_height - MARGIN, title)
    y = page_height - MARGIN - 2 * LEADING
    page = 1

    def footer() -> None:
        pdf.setFont(FONT, 9)
        pdf.drawCentredString(page_width / 2, MARGIN / 2, f"第{page}页  {subject}")
        pdf.setFont(FONT, BODY_SIZE)

    pdf.setFont(FONT, BODY_SIZE)
    for raw in body:
        if not raw.strip():
            y -= LEADING / 2
            continue
        for piece in _wrap(raw.rstrip(), usable):
            if y < MARGIN:
                footer()
                pdf.showPage()
                page += 1
                pdf.setFont(FONT, BODY_SIZE)
                y = page_height - MARGIN
            pdf.drawString(MARGIN, y, piece)
            y -= LEADING
    footer()
    pdf.save()
    return buffer.getvalue()


def content_hash(document: bytes) -> str:
    return hashlib.sha256(document).hexdigest()
