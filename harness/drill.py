"""What the disaster-recovery drill measured, how it is judged, and its certificate.

RTO: from the disaster (the instance destroyed without warning) until ``/health``
answers 200 through Nginx on the replacement. RPO: the newest canary row
acknowledged before the disaster minus the newest canary row present after the
restore. Both are compared with spec.json's ``recovery`` objectives; every
acknowledged canary row up to the newest restored one must be back, intact.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from harness.canary import CanaryRow
from harness.redaction import redact

DR_CERTIFICATE_NAME = "certificate-dr.json"


@dataclass(frozen=True)
class Objectives:
    """The declared recovery objectives (spec.json ``recovery``), in seconds."""

    rto_seconds: float
    rpo_seconds: float


@dataclass
class DrillMeasurement:
    """What one drill saw."""

    disaster_at: float  # epoch seconds
    healthy_at: Optional[float] = None  # epoch seconds of the first 200 through Nginx on the replacement
    rows: list[CanaryRow] = field(default_factory=list)
    present: dict[str, int] = field(default_factory=dict)  # canary rows back after the restore: name -> quantity
    restored_backup: Optional[str] = None
    restored_lsn: Optional[str] = None
    newest_archived_wal: Optional[str] = None

    @property
    def rto_seconds(self) -> Optional[float]:
        return None if self.healthy_at is None else round(self.healthy_at - self.disaster_at, 2)

    def acknowledged_before_disaster(self) -> list[CanaryRow]:
        return [r for r in self.rows if r.acknowledged_at is not None and r.acknowledged_at <= self.disaster_at]

    @property
    def rpo_seconds(self) -> Optional[float]:
        before = self.acknowledged_before_disaster()
        if not before:
            return None
        newest_before = max(r.written_at for r in before)
        restored = [r.written_at for r in before if r.name in self.present]
        if not restored:
            return round(newest_before - min(r.written_at for r in before), 2)  # everything the canary wrote is lost
        return round(max(0.0, newest_before - max(restored)), 2)

    def damaged_rows(self) -> list[str]:
        """Acknowledged rows up to the newest restored one that are missing or changed after the restore."""
        before = self.acknowledged_before_disaster()
        restored = [r.written_at for r in before if r.name in self.present]
        if not restored:
            return []
        horizon = max(restored)
        problems = []
        for row in before:
            if row.written_at > horizon:
                continue
            if row.name not in self.present:
                problems.append(f"{row.name} missing")
            elif self.present[row.name] != row.quantity:
                problems.append(f"{row.name} has quantity {self.present[row.name]}, written {row.quantity}")
        return problems


def misses(measured: DrillMeasurement, objectives: Objectives) -> list[str]:
    """The objectives the drill missed, each naming the measured value and the objective."""
    found = []
    if measured.rto_seconds is None:
        found.append(f"RTO not reached: /health never answered 200 through Nginx (objective {objectives.rto_seconds} s)")
    elif measured.rto_seconds > objectives.rto_seconds:
        found.append(f"RTO {measured.rto_seconds} s exceeds the objective {objectives.rto_seconds} s")
    if measured.rpo_seconds is None:
        found.append("RPO not measurable: the canary had no acknowledged write before the disaster")
    elif measured.rpo_seconds > objectives.rpo_seconds:
        found.append(f"RPO {measured.rpo_seconds} s exceeds the objective {objectives.rpo_seconds} s")
    return found


def dr_certificate(measured: DrillMeasurement, objectives: Objectives, *, environment: str, run_id: str,
                   commit: Optional[str], dirty: bool, scenario: str, stages: list[dict[str, Any]],
                   instances: dict[str, str], problems: list[str]) -> dict[str, Any]:
    """The drill's certificate (``reports/certificate-dr.json``)."""
    acknowledged = measured.acknowledged_before_disaster()
    return {
        "kind": "disaster-recovery drill",
        "environment": environment,
        "run_id": run_id,
        "scenario": scenario,
        "commit": commit,
        "dirty": dirty,
        "written_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "disaster_at": dt.datetime.fromtimestamp(measured.disaster_at, dt.timezone.utc).isoformat(),
        "rto_seconds": measured.rto_seconds,
        "rpo_seconds": measured.rpo_seconds,
        "objectives": {"rto_seconds": objectives.rto_seconds, "rpo_seconds": objectives.rpo_seconds},
        "met": not problems,
        "problems": problems,
        "restored": {"backup_id": measured.restored_backup, "wal_lsn": measured.restored_lsn,
                     "newest_archived_wal": measured.newest_archived_wal},
        "canary": {"written": len(measured.rows), "acknowledged_before_disaster": len(acknowledged),
                   "restored": len([r for r in acknowledged if r.name in measured.present])},
        "instances": instances,
        "stages": stages,
    }


def write_dr_certificate(reports_dir: Path, document: dict[str, Any]) -> Path:
    """Write the drill's certificate (redacted) into ``reports_dir``."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / DR_CERTIFICATE_NAME
    path.write_text(redact(json.dumps(document, indent=2)) + "\n")
    return path
