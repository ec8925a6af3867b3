"""Render a run's document to one self-contained HTML page (Jinja2, autoescape, redacted)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2

from harness.redaction import redact
from harness.report.model import build_page

TEMPLATES = Path(__file__).parent / "templates"


def _environment() -> jinja2.Environment:
    # autoescape everything (the page and its inline SVG): a check message is data, not markup
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def redact_document(value: Any) -> Any:
    """``value`` with every string (keys too) passed through the harness's redaction."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_document(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_document(v) for v in value]
    return value


def render(document: dict[str, Any]) -> str:
    """The HTML page of ``document`` (a certificate, failed-run record, DR certificate or bench summary).

    Secrets are masked twice: in the document before rendering (so escaping cannot hide a
    secret from the redaction) and in the finished page.
    """
    page = build_page(redact_document(document))
    generated = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    html = _environment().get_template(f"{page.kind}.html").render(page=page, generated=generated)
    return redact(html)


def write_report(document: dict[str, Any], path: Path) -> Path:
    """Render ``document`` to ``path`` (its folder is made); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(document), encoding="utf-8")
    return path
