"""`make bench` writes bench.json and its page bench.html (runs replaced by made-up certificates)."""
import json

from harness import bench


def test_bench_writes_json_and_page(tmp_path, monkeypatch, capsys):
    runs = iter([
        {"stages": [{"name": "infra", "seconds": 60.0}, {"name": "terraform-destroy", "seconds": 20.0}],
         "wall_seconds": 120.0},
        {"stages": [{"name": "infra", "seconds": 70.0}, {"name": "terraform-destroy", "seconds": 30.0}],
         "wall_seconds": 140.0},
    ])
    monkeypatch.setattr(bench, "one_run", lambda args: next(runs))
    assert bench.main(["--runs", "2", "--output", str(tmp_path / "bench.json")]) == 0
    document = json.loads((tmp_path / "bench.json").read_text())
    assert document["stages"]["infra"] == {"min": 60.0, "median": 65.0, "max": 70.0}
    page = (tmp_path / "bench.html").read_text()
    assert 'data-figure="terraform-destroy"' in page and 'data-figure="wall"' in page
    assert str(tmp_path / "bench.html") in capsys.readouterr().out
