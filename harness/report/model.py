"""From a run's JSON document (certificate, DR certificate, bench summary) to what a page shows.

Pure functions over plain dicts: no I/O, no markup. The kind of document is told by
its keys: a bench summary has ``runs`` and a ``stages`` mapping; a DR certificate has
``rto_seconds``; everything else is a certification (certified or failed).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from harness.report.timeline import Marker, Span, Timeline, layout, parse_time, spans_from_records

CERTIFICATION, DR, BENCH = "certification", "dr", "bench"

# What was deployed, as the certificate may state it: (key, label), in page order.
DEPLOYED_KEYS = (
    ("instance_id", "instance"), ("instance", "instance"), ("ami", "AMI"), ("ami_id", "AMI"),
    ("rules", "security group rules (read back)"), ("security_group_rules", "security group rules (read back)"),
    ("host_system", "host system"), ("app_version", "application version"),
    ("content_digest", "digest of terraform/, nixos/, spec.json, flake lock"),
    ("digest", "digest of terraform/, nixos/, spec.json"),
    ("resources", "resources (Terraform state)"),
)
# Keys the page shows in their own places; any other key goes to "other facts".
SHOWN_KEYS = {key for key, _ in DEPLOYED_KEYS} | {
    "environment", "run_id", "commit", "dirty", "certified", "issued_at", "checks", "stages",
    "total_seconds", "run_seconds", "policy", "selection", "failure", "rto_seconds", "rpo_seconds",
    "objectives", "met", "restored", "disaster_at", "written_at", "problems", "kind", "instances",
}
FAILED_OUTCOMES = ("failed", "error")


def kind_of(document: dict[str, Any]) -> str:
    """certification | dr | bench, from the document's keys."""
    if "runs" in document and (isinstance(document.get("stages"), dict) or "apply_alone" in document):
        return BENCH
    if "rto_seconds" in document or "rpo_seconds" in document:
        return DR
    return CERTIFICATION


@dataclass(frozen=True)
class Check:
    id: str
    name: str  # the test function (and parameters), without the module
    suite: str  # infra, host, web, db ... (the suites/ module without test_)
    outcome: str
    seconds: float
    message: str


@dataclass
class Suite:
    name: str
    checks: list[Check]

    @property
    def failed(self) -> int:
        return sum(c.outcome in FAILED_OUTCOMES for c in self.checks)

    @property
    def passed(self) -> int:
        return sum(c.outcome == "passed" for c in self.checks)


@dataclass(frozen=True)
class Fact:
    label: str
    value: Any  # a string, or a list of strings shown as a list

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)


@dataclass
class Objective:
    """A measured value against its objective (RTO, RPO)."""

    name: str
    measured: Optional[float]
    objective: Optional[float]
    unmeasured_misses: bool = False  # a drill that never measured its RTO (never healthy) missed it

    @property
    def met(self) -> Optional[bool]:
        if self.objective is None:
            return None
        if self.measured is None:
            return False if self.unmeasured_misses else None
        return self.measured <= self.objective


@dataclass(frozen=True)
class Figure:
    """One bench figure (a stage or the wall time) with its min/median/max."""

    name: str
    min: float
    median: float
    max: float

    def width(self, value: float, full: float = 100.0) -> float:
        """``value`` as a share of this figure's max, in units of ``full``."""
        return round(full * value / self.max, 2) if self.max > 0 else 0.0


@dataclass
class Page:
    """Everything a template shows."""

    kind: str
    title: str
    verdict_ok: bool
    verdict: str  # CERTIFIED, NOT CERTIFIED, OBJECTIVES MET ...
    reason: str  # why not, in one line; empty when ok
    facts: list[Fact]  # environment, commit, when, run
    deployed: list[Fact] = field(default_factory=list)
    other: list[Fact] = field(default_factory=list)
    failed_checks: list[Check] = field(default_factory=list)
    suites: list[Suite] = field(default_factory=list)
    timeline: Optional[Timeline] = None
    objectives: list[Objective] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


def suite_of(node_id: str) -> str:
    """``suites/test_web.py::test_x`` -> ``web``; other paths: the file's stem."""
    path = node_id.split("::", 1)[0]
    stem = path.rsplit("/", 1)[-1].removesuffix(".py")
    return stem.removeprefix("test_") or stem


def checks_of(document: dict[str, Any]) -> list[Check]:
    checks = []
    for raw in document.get("checks") or []:
        node_id = str(raw.get("id", ""))
        checks.append(Check(node_id, node_id.split("::", 1)[-1], suite_of(node_id), str(raw.get("outcome", "")),
                            float(raw.get("seconds") or 0.0), str(raw.get("message") or "")))
    return checks


def group_by_suite(checks: list[Check]) -> list[Suite]:
    """Suites in first-seen order, failures first within each."""
    suites: dict[str, Suite] = {}
    for check in checks:
        suites.setdefault(check.suite, Suite(check.suite, [])).checks.append(check)
    for suite in suites.values():
        suite.checks.sort(key=lambda c: c.outcome not in FAILED_OUTCOMES)
    return sorted(suites.values(), key=lambda s: s.failed == 0)


def _text(value: Any) -> Any:
    if isinstance(value, list):
        return [v if isinstance(v, str) else json.dumps(v, sort_keys=True) for v in value]
    if isinstance(value, (dict,)):
        return json.dumps(value, indent=1, sort_keys=True)
    return str(value)


def run_facts(document: dict[str, Any]) -> list[Fact]:
    commit = document.get("commit") or "unknown"
    if document.get("dirty"):
        commit += " (with uncommitted changes)"
    facts = [Fact("environment", document.get("environment") or "unknown"), Fact("commit", commit)]
    when = document.get("issued_at") or document.get("written_at")
    if when:
        facts.append(Fact("when", when))
    if document.get("run_id"):
        facts.append(Fact("run", document["run_id"]))
    if document.get("policy"):
        facts.append(Fact("policy checked against", document["policy"]))
    if document.get("selection"):
        note = " (not every check of the environment ran)" if document["selection"] == "partial" else ""
        facts.append(Fact("selection", document["selection"] + note))
    for key, label in (("total_seconds", "stages (set-up)"), ("run_seconds", "whole run (with teardown)")):
        if document.get(key) is not None:
            facts.append(Fact(label, f"{document[key]} s"))
    return facts


def deployed_facts(document: dict[str, Any]) -> tuple[list[Fact], list[Fact]]:
    """What was deployed (known keys), and the document's other top-level facts."""
    deployed, seen = [], set()
    for key, label in DEPLOYED_KEYS:
        if document.get(key) not in (None, "", []) and label not in seen:
            deployed.append(Fact(label, _text(document[key])))
            seen.add(label)
    other = [Fact(key, _text(value)) for key, value in document.items()
             if key not in SHOWN_KEYS and value not in (None, "", [], {})]
    return deployed, other


def certification_page(document: dict[str, Any]) -> Page:
    checks = checks_of(document)
    failed = [c for c in checks if c.outcome in FAILED_OUTCOMES]
    certified = bool(document.get("certified"))
    reason = ""
    if not certified:
        failure = document.get("failure") or {}
        reason = str(failure.get("reason") or "") or (
            f"{len(failed)} check(s) failed" if failed else "the run did not complete")
    spans, estimated = spans_from_records(document.get("stages") or [])
    deployed, other = deployed_facts(document)
    return Page(
        kind=CERTIFICATION,
        title=f"{'Certified' if certified else 'Not certified'}: {document.get('environment', '?')}",
        verdict_ok=certified, verdict="CERTIFIED" if certified else "NOT CERTIFIED", reason=reason,
        facts=run_facts(document), deployed=deployed, other=other, failed_checks=failed,
        suites=group_by_suite(checks), timeline=layout(spans, estimated=estimated),
    )


def _seconds(value: Any) -> Optional[float]:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def dr_page(document: dict[str, Any]) -> Page:
    """The drill: disaster, recovery stages, RTO and RPO against the objectives on one timeline."""
    objectives = document.get("objectives") or {}
    rto = Objective("RTO", _seconds(document.get("rto_seconds")), _seconds(objectives.get("rto_seconds")), True)
    rpo = Objective("RPO", _seconds(document.get("rpo_seconds")), _seconds(objectives.get("rpo_seconds")), True)
    met = bool(document.get("met"))
    spans, estimated = spans_from_records(document.get("stages") or [])
    disaster = parse_time(document.get("disaster_at"))
    notes = []
    if disaster is None and spans:
        disaster = min(s.start for s in spans)
        notes.append("the disaster's time is not recorded: RTO and RPO are drawn from the first stage's start")
    markers: list[Marker] = []
    if disaster is not None:
        markers.append(Marker(disaster, "disaster", "disaster"))
        if rto.measured is not None:
            spans.append(Span("RTO (measured)", "measure", disaster, disaster + rto.measured,
                              "met" if rto.met is not False else "missed"))
        if rpo.measured is not None:
            spans.append(Span("RPO (data lost)", "measure", disaster - rpo.measured, disaster,
                              "met" if rpo.met is not False else "missed"))
        if rto.objective is not None:
            markers.append(Marker(disaster + rto.objective, f"RTO objective {rto.objective:g} s", "objective"))
        if rpo.objective is not None:
            markers.append(Marker(disaster - rpo.objective, f"RPO objective {rpo.objective:g} s", "objective"))
    timeline = layout(spans, markers, estimated=estimated)
    timeline.notes.extend(notes)
    missed = [o for o in (rto, rpo) if o.met is False and o.measured is not None]
    problems = [str(p) for p in document.get("problems") or []]
    reason = "" if met else ("\n".join(problems) or "; ".join(
        f"{o.name} {o.measured:g} s exceeds the objective {o.objective:g} s" for o in missed)
        or "the drill did not meet its objectives")
    facts = run_facts(document)
    if document.get("disaster_at"):
        facts.insert(2, Fact("disaster at", document["disaster_at"]))
    restored = document.get("restored")
    deployed, other = deployed_facts(document)
    if isinstance(document.get("instances"), dict):
        deployed.insert(0, Fact("instances", [f"{k}: {v}" for k, v in document["instances"].items()]))
    if restored not in (None, "", {}):
        deployed.insert(0, Fact("restored (backup, WAL position)",
                                _text(restored) if not isinstance(restored, dict) else
                                [f"{k}: {v}" for k, v in restored.items()]))
    checks = checks_of(document)
    return Page(
        kind=DR, title=f"DR drill: {'objectives met' if met else 'objectives missed'}", verdict_ok=met,
        verdict="OBJECTIVES MET" if met else "OBJECTIVES MISSED", reason=reason, facts=facts,
        deployed=deployed, other=other, failed_checks=[c for c in checks if c.outcome in FAILED_OUTCOMES],
        suites=group_by_suite(checks), timeline=timeline, objectives=[rto, rpo],
    )


def bench_page(document: dict[str, Any]) -> Page:
    """``make bench``: each figure's min/median/max over the runs."""
    measured = {name: value for name, value in document.items()
                if isinstance(value, dict) and {"min", "median", "max"} <= set(value)}
    measured.update(document.get("stages") or {})  # an older bench.json: per-stage figures only
    figures = [Figure(str(name), float(v.get("min", 0)), float(v.get("median", 0)), float(v.get("max", 0)))
               for name, v in measured.items()]
    facts = [Fact("runs", str(document.get("runs", "?")))]
    if "ratio_to_floor" in document:
        facts.append(Fact("time to certificate / apply alone", str(document["ratio_to_floor"])))
    for key, label in (("issued_at", "when"), ("commit", "commit"), ("environment", "environment")):
        if document.get(key):
            facts.append(Fact(label, str(document[key])))
    return Page(kind=BENCH, title="Benchmark: stage times", verdict_ok=True,
                verdict=f"BENCHMARK: {document.get('runs', '?')} RUNS", reason="", facts=facts, figures=figures)


def build_page(document: dict[str, Any]) -> Page:
    """The page for any of the three kinds of document."""
    return {CERTIFICATION: certification_page, DR: dr_page, BENCH: bench_page}[kind_of(document)](document)
