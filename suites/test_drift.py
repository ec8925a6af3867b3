"""Certification: production matches the repository (read-only: `terraform plan` shows no changes)."""
from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.production]


@pytest.fixture
def drift_planned(infra_apply: Any) -> None:
    """The infra stage's drift plan has ended (a read-only run's outputs, which the rest uses, come before it)."""
    infra_apply.progress.wait()


def test_no_drift(drift_planned: None, run_record: Any) -> None:
    """The plan of terraform/ against production's state changes nothing (the infra stage records the plan)."""
    drift = run_record.drift
    assert drift is not None, "the infra stage made no drift plan; production must be certified read-only"
    assert drift == [], (
        "production differs from terraform/ (plan would change: " + "; ".join(drift) + "); "
        "apply the reviewed change through staging first, then with --allow-production-apply")
