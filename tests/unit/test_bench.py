"""`make bench` writes bench.json (the issue's figures, min/median/max) and its page (rounds made up)."""
import json

from harness import bench


def _round(apply_alone, ttc, checks, recertify):
    return {"apply_alone": apply_alone, "boot_alone": 2.0, "certify": ttc + 3, "time_to_certificate": ttc,
            "checks": checks, "teardown": 15.0, "recertify": recertify}


def test_bench_writes_each_figure_ratio_and_targets(tmp_path, monkeypatch, capsys):
    rounds = iter([_round(60.0, 70.0, 4.0, 8.0), _round(70.0, 90.0, 6.0, 12.0), _round(66.0, 80.0, 5.0, 9.0)])
    monkeypatch.setattr(bench, "one_round", lambda args: next(rounds))
    assert bench.main(["--runs", "3", "--output", str(tmp_path / "bench.json")]) == 0
    document = json.loads((tmp_path / "bench.json").read_text())
    for name in bench.FIGURES:
        assert set(document[name]) == {"min", "median", "max"}, name
    assert document["apply_alone"] == {"min": 60.0, "median": 66.0, "max": 70.0}
    assert document["ratio_to_floor"] == round(80.0 / 66.0, 3)
    assert document["targets"]["time_to_certificate"] == {"target": 81.0, "median": 80.0, "met": True}
    assert document["targets"]["checks"]["met"] is True and document["targets"]["recertify"]["met"] is True
    page = (tmp_path / "bench.html").read_text()
    assert 'data-figure="apply_alone"' in page and 'data-figure="recertify"' in page
    out = capsys.readouterr().out
    assert "ratio_to_floor" in out and str(tmp_path / "bench.html") in out


def test_a_missed_target_is_reported_as_not_met(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "one_round", lambda args: _round(60.0, 100.0, 9.0, 30.0))
    assert bench.main(["--runs", "1", "--output", str(tmp_path / "bench.json")]) == 0
    targets = json.loads((tmp_path / "bench.json").read_text())["targets"]
    assert not targets["time_to_certificate"]["met"] and not targets["checks"]["met"]
    assert "NOT met" in capsys.readouterr().out


def test_a_failed_run_is_one_error(monkeypatch, capsys):
    def fail(args):
        raise bench.HarnessError("benchmark run failed (exit 1)")
    monkeypatch.setattr(bench, "one_round", fail)
    assert bench.main(["--runs", "1"]) == 3
    assert "benchmark run failed" in capsys.readouterr().err


def test_checks_run_from_the_deployment_being_ready_to_the_last_check():
    document = {"stages": [
        {"name": "instance", "kind": "stage", "seconds": 0.2, "started_at": "2026-11-27T10:00:01.000Z",
         "ended_at": "2026-11-27T10:00:01.200Z"},
        {"name": "checks", "kind": "checks", "seconds": 9.0, "started_at": "2026-11-27T10:00:00.500Z",
         "ended_at": "2026-11-27T10:00:09.500Z"},
        {"name": "host", "kind": "stage", "seconds": 0.5, "started_at": "2026-11-27T10:00:01.250Z",
         "ended_at": "2026-11-27T10:00:01.750Z"}]}
    # the static checks before the stages ended do not count: they ran beside them
    assert bench.checks_seconds(document) == 7.75


def test_checks_of_a_run_without_stages_are_none():
    assert bench.checks_seconds({"stages": [{"name": "checks", "kind": "checks", "seconds": 3.0,
                                             "started_at": "2026-11-27T10:00:00Z",
                                             "ended_at": "2026-11-27T10:00:03Z"}]}) == 0.0
