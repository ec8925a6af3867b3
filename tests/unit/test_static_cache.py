"""Static analysis results kept by their inputs (harness/static_cache.py): a hit only for identical inputs."""
from __future__ import annotations

import pytest

from harness import static_cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(static_cache, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(static_cache, "REPO_ROOT", tmp_path)
    monkeypatch.delenv("HARNESS_STATIC_CACHE", raising=False)
    configuration = tmp_path / "terraform"
    configuration.mkdir()
    (configuration / "main.tf").write_text('resource "aws_s3_bucket" "b" {}\n')
    return configuration


def test_an_identical_configuration_takes_the_kept_result_and_any_change_runs_the_tool(cache):
    runs = []

    def work():
        runs.append(1)
        return {"valid": True, "run": len(runs)}

    key = static_cache.cache_key("validate", cache, ["terraform:1.9"])
    assert static_cache.cached("validate", key, work) == {"valid": True, "run": 1}
    assert static_cache.cached("validate", key, work) == {"valid": True, "run": 1} and len(runs) == 1
    assert static_cache.cache_key("validate", cache, ["terraform:1.10"]) != key, "another tool is another key"
    assert static_cache.cache_key("checkov", cache, ["terraform:1.9"]) != key
    (cache / "main.tf").write_text('resource "aws_s3_bucket" "c" {}\n')
    changed = static_cache.cache_key("validate", cache, ["terraform:1.9"])
    assert changed != key
    assert static_cache.cached("validate", changed, work)["run"] == 2


def test_a_tool_that_could_not_run_is_not_kept_and_off_runs_every_time(cache, monkeypatch):
    key = static_cache.cache_key("checkov", cache, [])

    def broken():
        raise RuntimeError("checkov printed no JSON")

    with pytest.raises(RuntimeError):
        static_cache.cached("checkov", key, broken)
    assert not list(static_cache.CACHE_DIR.glob("*.json"))
    static_cache.cached("checkov", key, lambda: {"failed": 0})
    monkeypatch.setenv("HARNESS_STATIC_CACHE", "off")
    assert static_cache.cached("checkov", key, lambda: {"failed": 1}) == {"failed": 1}


def test_only_the_newest_results_are_kept(cache):
    for number in range(5):
        static_cache.cached("validate", f"k{number}", lambda: {})
    static_cache.prune(keep=2)
    assert len(list(static_cache.CACHE_DIR.glob("*.json"))) == 2
