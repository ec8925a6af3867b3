"""The run record: what one run found out, typed, in one place.

The plugin creates it (pytest stash key :data:`RUN_RECORD`), the stage
fixtures fill it in (through the ``run_record`` fixture), and at the end the
plugin writes the certificate and the summary from it. It holds no secret.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

Selection = Literal["complete", "partial"]


@dataclass
class RunRecord:
    """What the plugin and the stages know about this run."""

    started: float = field(default_factory=time.monotonic)  # monotonic clock at session start
    certification_run: bool = False  # at least one certification check was collected
    apply_starts_with_session: bool = False  # a certification that deploys: the apply starts before the first check
    selection: Selection = "complete"  # "partial": paths or -k chose only some checks
    run_id: Optional[str] = None  # set once the stage chain opened a run
    resources: list[str] = field(default_factory=list)  # Terraform state addresses after the infra stage
    drift: Optional[list[str]] = None  # production read-only: what a plan would change ([]: none; None: no plan)
    kept_hints: list[str] = field(default_factory=list)  # how to reuse or destroy a kept run
    run_seconds: Optional[float] = None  # the whole run, teardown included
    time_to_certificate: Optional[float] = None  # from the run's start to the end of its checks
    certificate_path: Optional[Path] = None  # written when every selected check passed
    started_epoch: Optional[float] = None  # wall clock at session start (the drill's page: was its JSON this run's?)
    report_paths: list[str] = field(default_factory=list)  # the HTML pages this run wrote
    # what was deployed, read back (harness/deployed.py): instance_id, ami, security_group_rules, host_system,
    # app_version; filled in by the `deployment` fixture, stated by the certificate
    deployed: dict[str, Any] = field(default_factory=dict)
    stored: list[str] = field(default_factory=list)  # where the signed certificate and its signature were stored
    revoked: list[str] = field(default_factory=list)  # where a failed staging run revoked its commit's certificate
    publish_problem: Optional[str] = None  # why the certificate could not be signed/stored, or revoked
    # what a passing check could not look at, and what covers it instead ({check node id: note}); stated by the
    # certificate so that a pass is not read as more than it is
    not_probed: dict[str, str] = field(default_factory=dict)
    switch: Optional[Any] = None  # harness.production_switch.SwitchRecord: a production switch in this run
    rollback: Optional[dict[str, Any]] = None  # after a failed certification of a switch: rolled back, re-certified?

    def finish(self) -> float:
        """Record and return the run's wall time so far."""
        self.run_seconds = round(time.monotonic() - self.started, 2)
        return self.run_seconds
