"""The production apply gate needs a staging certificate for the same clean commit."""
import json

import pytest

from harness import gate
from harness.errors import HarnessError


def test_no_staging_certificate(tmp_path):
    with pytest.raises(HarnessError, match="needs a staging certificate.*pytest -m staging"):
        gate.require_staging_certificate(tmp_path)


def test_certificate_for_another_commit(tmp_path, monkeypatch):
    monkeypatch.setattr(gate, "git_commit", lambda: ("abc123", False))
    (tmp_path / "certificate-staging.json").write_text(json.dumps({"certified": True, "commit": "def456"}))
    with pytest.raises(HarnessError, match="for commit def456, not abc123"):
        gate.require_staging_certificate(tmp_path)


def test_dirty_tree_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(gate, "git_commit", lambda: ("abc123", True))
    (tmp_path / "certificate-staging.json").write_text(json.dumps({"certified": True, "commit": "abc123"}))
    with pytest.raises(HarnessError, match="clean tree"):
        gate.require_staging_certificate(tmp_path)


def test_matching_certificate_opens_the_gate(tmp_path, monkeypatch):
    monkeypatch.setattr(gate, "git_commit", lambda: ("abc123", False))
    (tmp_path / "certificate-staging.json").write_text(json.dumps({"certified": True, "commit": "abc123"}))
    gate.require_staging_certificate(tmp_path)
