"""The HTML report: escaping, redaction, the timeline's bars, the three kinds of page, the CLI."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

import report_samples as samples
from harness.plugin.run_report import failure_reason, write_dr_report, write_run_reports
from harness.redaction import register_secret
from harness.report import render, write_report
from harness.report.model import BENCH, CERTIFICATION, DR, build_page, kind_of, suite_of
from harness.report.timeline import Span, layout, parse_time, spans_from_records
from harness.spec import REPO_ROOT


class Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def bars(self, kind: str | None = None) -> dict[str, tuple[float, float]]:
        found = {}
        for tag, attrs in self.tags:
            if tag == "rect" and "bar" in attrs.get("class", "").split() and "data-name" in attrs:
                if kind is None or attrs.get("data-kind") == kind:
                    x, width = float(attrs["x"]), float(attrs["width"])
                    found[attrs["data-name"]] = (x, x + width)
        return found


def test_a_check_message_with_markup_is_escaped():
    html = render(samples.failed(message='AssertionError: <script>alert("x")</script> & <img src=x onerror=1>'))
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(" in html


def test_a_registered_secret_never_reaches_the_page():
    secret = "canary-Secret&<\"value\">-4711"  # markup characters: escaping must not hide it from redaction
    register_secret(secret)
    document = samples.failed(message=f"password {secret} leaked")
    document["note"] = f"token {secret}"
    document[f"key-{secret}"] = "x"
    document["stages"][0]["name"] = f"aws {secret}"
    html = render(document)
    assert secret not in html
    for fragment in ("canary-Secret", "4711"):
        assert fragment not in html
    assert "***" in html


def test_one_bar_per_stage_and_teardown_step():
    elements = Elements(render(samples.certified()))
    assert list(elements.bars("stage")) == ["aws", "infra", "instance", "host"]
    assert list(elements.bars("teardown")) == ["instance-remove", "terraform-destroy", "moto-stop"]
    bars = elements.bars()
    assert bars["aws"][1] <= bars["infra"][0] + 0.01  # one after the other on the time axis
    assert bars["host"][1] < bars["instance-remove"][0]


def test_overlapping_stages_show_as_overlapping_bars():
    bars = Elements(render(samples.dr())).bars()
    writer, infra, restore = bars["canary-writer"], bars["infra"], bars["restore"]
    assert writer[0] < infra[0] < writer[1] and writer[0] < restore[1] <= writer[1] + 0.01
    # and not overlapping ones do not overlap
    assert infra[1] <= bars["instance"][0] + 0.01


def test_layout_keeps_the_time_axis():
    spans = [Span("a", "stage", 100.0, 110.0), Span("b", "stage", 105.0, 120.0)]
    timeline = layout(spans)
    a, b = timeline.bars
    assert a.x < b.x < a.x + a.width  # b starts while a runs
    assert round(b.x + b.width) == timeline.width - 20  # the last end is the axis's right end
    assert timeline.ticks[0].label == "0 s" and len(timeline.ticks) <= 11
    assert [t.x for t in timeline.ticks] == sorted(t.x for t in timeline.ticks)


def test_duration_labels_stay_inside_the_picture():
    spans = [Span("long", "stage", 0.0, 100.0), Span("short-last", "teardown", 100.0, 100.5),
             Span("first", "stage", 0.0, 10.0)]
    long, short, first = layout(spans).bars
    assert (long.label_position, short.label_position, first.label_position) == ("inside", "before", "after")


def test_records_without_times_are_laid_end_to_end():
    spans, estimated = spans_from_records([{"name": "stage infra", "seconds": 31.5}, {"name": "host", "seconds": 2}])
    assert estimated and spans[1].start == spans[0].end == 31.5
    assert "end to end" in render({"certified": True, "environment": "sandbox", "stages": [
        {"name": "stage infra", "seconds": 31.5}], "checks": []})


def test_times_in_iso_or_epoch():
    assert parse_time("2026-11-27T07:00:00Z") == parse_time("2026-11-27T07:00:00+00:00") == parse_time(1795762800)
    assert parse_time(None) is None and parse_time("soon") is None


def test_failed_page_shows_the_failure_first():
    html = render(samples.failed())
    assert "NOT CERTIFIED" in html and "1 of 5 checks failed or errored" in html
    order = [html.index(marker) for marker in ('id="verdict"', 'id="failed-checks"', 'id="deployed"',
                                               'id="stages"', 'id="checks"')]
    assert order == sorted(order)
    failed_section = html[html.index('id="failed-checks"'):html.index('id="deployed"')]
    assert "test_phoenix_port_closed" in failed_section and "port 4000 answers from the internet" in failed_section


def test_certified_page_states_what_was_deployed_and_groups_checks_by_suite():
    html = render(samples.certified())
    assert "CERTIFIED" in html and "NOT CERTIFIED" not in html and 'id="failed-checks"' not in html
    for text in ("i-0123456789abcdef0", "ami-debian-13", "0.1.0", "aws_s3_bucket.backups", "06c0930e2dd6",
                 "policy checked against"):
        assert text in html
    suites = re.findall(r'data-suite="([^"]+)"', html)
    assert suites == ["infra", "host", "web", "db"]
    assert "no backups in this environment" in html  # a skip's reason


def test_suite_names():
    assert suite_of("suites/test_web.py::test_x[a]") == "web"
    assert suite_of("suites/test_backups.py::test_y") == "backups"


def test_page_is_self_contained():
    for document in (samples.failed(), samples.dr(), samples.BENCH):
        html = render(document)
        assert not re.search(r"<script|<link|<iframe|<img|@import|url\(", html, re.I)
        assert not re.search(r"(src|href)=", html)
        assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"] * html.count("xmlns=")


def test_kinds():
    assert kind_of(samples.certified()) == CERTIFICATION
    assert kind_of(samples.dr()) == DR
    assert kind_of(samples.BENCH) == BENCH


def test_dr_page_measures_against_objectives():
    page = build_page(samples.dr())
    assert page.verdict == "OBJECTIVES MET"
    rto, rpo = page.objectives
    assert (rto.measured, rto.objective, rto.met) == (95.0, 180.0, True) and rpo.met is True
    labels = [m.label for m in page.timeline.markers]
    assert labels == ["disaster", "RTO objective 180 s", "RPO objective 60 s"]
    html = render(samples.dr())
    bars = Elements(html).bars("measure")
    disaster = page.timeline.markers[0].x
    assert bars["RTO (measured)"][0] == pytest.approx(disaster) and bars["RPO (data lost)"][1] == pytest.approx(disaster)
    assert "0/3000060" in html and "20261127T065900" in html

    missed = build_page(samples.dr(met=False))
    assert missed.verdict == "OBJECTIVES MISSED" and "RTO 200 s exceeds the objective 180 s" in missed.reason
    assert 'class="bar measure missed"' in render(samples.dr(met=False))


def test_dr_certificate_as_the_drill_on_main_writes_it():
    """start/end stage keys, written_at, problems, instances, an RTO that was never reached."""
    document = samples.dr_as_main_writes_it()
    page = build_page(document)
    assert page.kind == DR and page.verdict == "OBJECTIVES MISSED"
    assert page.reason == "RTO not reached: /health never answered 200 through Nginx (objective 180 s)"
    assert [b.name for b in page.timeline.bars][:4] == [s["name"] for s in document["stages"]]
    assert not page.timeline.estimated  # the times were read, not guessed
    html = render(document)
    for text in ("2026-11-27T07:06:00", "replacement: i-0bbb", "0/5000100", "not measured", "acknowledged_before_disaster"):
        assert text in html
    rto, rpo = page.objectives
    assert rto.met is False and rpo.met is True  # never healthy: the RTO was missed
    assert "terraform apply -replace=aw…" in html  # a long name is shortened beside its bar
    bars = Elements(html).bars()
    assert bars["canary writes for 65 s"][1] <= bars["disaster: instance destroyed"][0] + 0.01


def test_dr_without_disaster_time_draws_from_the_first_stage():
    document = samples.dr()
    del document["disaster_at"]
    page = build_page(document)
    assert page.timeline.markers[0].kind == "disaster" and any("not recorded" in n for n in page.timeline.notes)


def test_bench_page_draws_min_median_max_per_figure():
    elements = Elements(render(samples.BENCH))
    figures = [attrs["data-figure"] for tag, attrs in elements.tags if tag == "svg" and "data-figure" in attrs]
    assert figures == ["aws", "infra", "terraform-destroy", "wall"]
    widths = [float(attrs["width"]) for tag, attrs in elements.tags if tag == "rect" and "data-stat" in attrs]
    assert len(widths) == 12
    infra = widths[3:6]
    assert infra[0] < infra[1] < infra[2] == 800  # each figure scaled to its own max


def test_module_entry_point_renders_beside_the_json(tmp_path):
    source = tmp_path / "certificate.json"
    source.write_text(json.dumps(samples.failed()))
    result = subprocess.run([sys.executable, "-m", "harness.report", str(source)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "certificate.html")
    assert "NOT CERTIFIED" in (tmp_path / "certificate.html").read_text()
    bad = subprocess.run([sys.executable, "-m", "harness.report", str(tmp_path / "missing.json")], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "cannot read" in bad.stderr


def test_run_reports_render_this_runs_dr_certificate_only(tmp_path):
    assert write_run_reports(tmp_path, samples.certified()) == [str(tmp_path / "certificate.html")]
    assert write_dr_report(tmp_path, started_epoch=0) == []  # no drill certificate
    (tmp_path / "certificate-dr.json").write_text(json.dumps(samples.dr()))
    assert write_dr_report(tmp_path, started_epoch=4e9) == []  # written before this run: not this run's
    assert write_dr_report(tmp_path, started_epoch=0) == [str(tmp_path / "certificate-dr.html")]
    assert "OBJECTIVES MET" in (tmp_path / "certificate-dr.html").read_text()


def test_a_page_that_cannot_render_does_not_break_the_run(tmp_path, caplog):
    assert write_run_reports(tmp_path, {"checks": "not a list"}) == []
    assert "could not write the report page" in caplog.text


def test_failure_reasons():
    from harness.certificate import CheckResult

    checks = [CheckResult("a", "passed"), CheckResult("b", "failed", 1.0, "boom")]
    assert failure_reason(checks, "x", 1) == "1 of 2 checks failed or errored"
    assert failure_reason([], "x", 2) == "the run was interrupted"
    assert "did not run" in failure_reason([], None, 1)


def test_write_report_makes_the_folder(tmp_path):
    path = write_report(samples.BENCH, tmp_path / "deep" / "bench.html")
    assert path.read_text().startswith("<!DOCTYPE html>")
