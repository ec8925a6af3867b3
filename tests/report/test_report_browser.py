"""The report page as a person sees it: headless Chromium (Debian's `chromium`) renders it.

Checks on the rendered DOM: the verdict, the failed check's message, one timeline bar per
recorded stage and teardown step, no secret (a canary shows as ***), no horizontal overflow
at 1280 px; and a 1280x800 screenshot. `page_problems` is tested against broken pages too, so
this test can fail.
"""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import report_samples as samples
from harness.redaction import MASK, register_secret
from harness.report import render
from harness.spec import REPO_ROOT
from test_report_render import Elements

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`; `make setup` installs it)")

WINDOW = (1280, 800)
CANARY = "canary-8f3a1c-do-not-show"
# Written into a copy of the page only: the page itself has no script.
MEASURE = ("<script>document.body.setAttribute('data-scroll-width', "
           "String(document.documentElement.scrollWidth));</script>")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium once with its own profile, no network chatter, as root."""
    profile = tmp_path / "chromium-profile"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"chromium failed ({result.returncode}): {result.stderr[-2000:]}"
    return result


def rendered_dom(html: str, tmp_path: Path) -> str:
    """The DOM Chromium builds from ``html`` at 1280 px (with the measuring script added)."""
    page = tmp_path / "measured.html"
    page.write_text(html.replace("</body>", MEASURE + "</body>"))
    return chromium(tmp_path, "--dump-dom", page.as_uri()).stdout


def page_problems(dom: str, *, verdict: str, bars: list[str], messages: list[str] = (),
                  secrets: list[str] = ()) -> list[str]:
    """What a person would see wrong on the rendered page (empty: nothing)."""
    problems = []
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", dom, re.S)
    if heading is None or heading.group(1).strip() != verdict:
        problems.append(f"verdict: expected {verdict!r}, saw {heading.group(1).strip() if heading else None!r}")
    drawn = [attrs["data-name"] for tag, attrs in Elements(dom).tags
             if tag == "rect" and attrs.get("data-kind") in ("stage", "checks", "teardown")]
    if drawn != bars:
        problems.append(f"timeline bars: expected {bars}, saw {drawn}")
    failed = dom[dom.find('id="failed-checks"'):] if 'id="failed-checks"' in dom else ""
    problems += [f"failed check message not shown: {m!r}" for m in messages if m not in failed]
    problems += [f"secret shown: {s[:6]}…" for s in secrets if s in dom]
    width = re.search(r'data-scroll-width="(\d+)"', dom)
    if width is None or int(width.group(1)) > WINDOW[0]:
        problems.append(f"horizontal overflow at {WINDOW[0]} px: page width {width.group(1) if width else '?'}")
    return problems


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def screenshot(html: str, tmp_path: Path, name: str) -> Path:
    """A 1280x800 screenshot of the page, also kept as reports/<name> for the README."""
    page = tmp_path / f"{name}.html"
    page.write_text(html)
    out = tmp_path / name
    chromium(tmp_path, f"--screenshot={out}", page.as_uri())
    assert png_size(out) == WINDOW
    kept = REPO_ROOT / "reports" / name
    kept.parent.mkdir(exist_ok=True)
    shutil.copyfile(out, kept)
    return out


RECORDED = [stage["name"] for stage in samples.STAGES]


def test_certified_page_in_the_browser(tmp_path):
    html = render(samples.certified())
    assert page_problems(rendered_dom(html, tmp_path), verdict="CERTIFIED", bars=RECORDED) == []
    screenshot(html, tmp_path, "report-certified.png")


def test_failed_page_in_the_browser_shows_the_failure_and_no_secret(tmp_path):
    register_secret(CANARY)
    message = f"AssertionError: port 4000 answers from the internet (token {CANARY})"
    html = render(samples.failed(message=message))
    dom = rendered_dom(html, tmp_path)
    shown = message.replace(CANARY, MASK)
    assert page_problems(dom, verdict="NOT CERTIFIED", bars=RECORDED, messages=[shown], secrets=[CANARY]) == []
    assert MASK in dom
    screenshot(html, tmp_path, "report-failed.png")


def test_the_browser_check_fails_on_a_broken_page(tmp_path):
    """A page without its timeline, with a secret, or too wide is reported: the check above can fail."""
    html = render(samples.failed())
    broken = re.sub(r'<svg id="timeline".*?</svg>', "", html, flags=re.S)
    broken = broken.replace("port 4000 answers", f"port 4000 answers {CANARY}")
    broken = broken.replace("</main>", '<div style="width: 2400px">wide</div></main>')
    problems = page_problems(rendered_dom(broken, tmp_path), verdict="CERTIFIED", bars=RECORDED,
                             messages=["a message that is not there"], secrets=[CANARY])
    kinds = [p.split(":")[0] for p in problems]
    assert kinds == ["verdict", "timeline bars", "failed check message not shown", "secret shown",
                     "horizontal overflow at 1280 px"], problems
