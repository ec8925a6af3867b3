"""The disaster-recovery drill (`pytest -m dr`, nightly): recovery measured against the declared objectives.

The drill itself is the `drill` fixture (fixtures/stage_drill.py); these checks judge
what it measured. reports/certificate-dr.json records the measurement either way.
"""
from __future__ import annotations

import pytest


@pytest.mark.dr
def test_recovery_meets_objectives_and_loses_no_archived_row(drill):
    """RTO and RPO are within spec.json's objectives; every canary row up to the newest restored one is intact;
    the service's Elastic IP leads to the replacement instance."""
    assert not drill.problems, (
        "the disaster-recovery drill failed: " + "; ".join(drill.problems)
        + f" (measured RTO {drill.measurement.rto_seconds} s, RPO {drill.measurement.rpo_seconds} s; objectives "
        f"RTO {drill.objectives.rto_seconds} s, RPO {drill.objectives.rpo_seconds} s)")
