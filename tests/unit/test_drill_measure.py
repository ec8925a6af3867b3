"""The drill's measurement and judgement (harness/drill.py) and the canary's names (harness/canary.py)."""
from __future__ import annotations

from harness.canary import CanaryRow, rows_present, written_at_of
from harness.drill import DrillMeasurement, Objectives, misses


def _row(seq: int, at: float, acknowledged: bool = True) -> CanaryRow:
    return CanaryRow(seq, f"canary-x-{seq:06d}-{int(at * 1000)}", seq, at, at + 0.01 if acknowledged else None)


def test_rto_and_rpo_from_what_came_back():
    rows = [_row(i, 100.0 + i) for i in range(1, 11)]  # acknowledged at 101..110
    measured = DrillMeasurement(disaster_at=110.5, healthy_at=170.5, rows=rows,
                                present={r.name: r.quantity for r in rows[:6]})  # up to t=106
    assert measured.rto_seconds == 60.0
    assert measured.rpo_seconds == 4.0  # newest before the disaster 110, newest back 106
    assert measured.damaged_rows() == []
    assert misses(measured, Objectives(rto_seconds=300, rpo_seconds=120)) == []


def test_missed_objectives_name_value_and_objective():
    rows = [_row(1, 100.0), _row(2, 150.0)]
    measured = DrillMeasurement(disaster_at=151, healthy_at=251, rows=rows, present={rows[0].name: 1})
    assert misses(measured, Objectives(rto_seconds=30, rpo_seconds=10)) == [
        "RTO 100 s exceeds the objective 30 s", "RPO 50.0 s exceeds the objective 10 s"]


def test_a_hole_or_a_changed_row_before_the_newest_restored_one_is_damage():
    rows = [_row(i, 100.0 + i) for i in range(1, 6)]
    present = {r.name: r.quantity for r in rows}
    del present[rows[1].name]
    present[rows[2].name] = 999
    measured = DrillMeasurement(disaster_at=106, healthy_at=120, rows=rows, present=present)
    assert measured.damaged_rows() == [f"{rows[1].name} missing", f"{rows[2].name} has quantity 999, written 3"]


def test_writes_after_the_disaster_and_unacknowledged_ones_do_not_count():
    rows = [_row(1, 100.0), _row(2, 101.0, acknowledged=False), _row(3, 200.0)]
    measured = DrillMeasurement(disaster_at=150, healthy_at=190, rows=rows, present={rows[0].name: 1})
    assert [r.seq for r in measured.acknowledged_before_disaster()] == [1]
    assert measured.rpo_seconds == 0.0


def test_no_health_and_no_canary_are_misses_too():
    assert len(misses(DrillMeasurement(disaster_at=1.0), Objectives(10, 10))) == 2


def test_canary_names_carry_their_write_time():
    assert written_at_of("canary-it1-000001-1700000000123", "canary-it1") == 1700000000.123
    assert written_at_of("apples", "canary-it1") is None
    items = [{"name": "canary-it1-000001-1700000000123", "quantity": 1}, {"name": "apples", "quantity": 3}]
    assert rows_present(items, "canary-it1") == {"canary-it1-000001-1700000000123": 1}
