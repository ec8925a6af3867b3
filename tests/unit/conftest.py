"""Fixtures for the unit tests: a real moto server; real ssh-keygen keys and allowed-signers files.

Nothing here touches the repository's certification/allowed_signers or .cache/: the module
globals that name them are pointed at the test's own folder, so tests run in any order and
in parallel processes.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from harness import signing
from harness.aws import AwsEndpoint, MotoServer, endpoint_for


@dataclass(frozen=True)
class KeyForTest:
    """An SSH key made for one test."""

    path: Path
    public: str  # "ssh-ed25519 AAAA..."

    def allowed_line(self, principal: str) -> str:
        return f'{principal} namespaces="{signing.NAMESPACE}" {self.public}\n'


def make_key(folder: Path, name: str) -> KeyForTest:
    """A new passphrase-less ed25519 key ``folder/name`` made by ssh-keygen."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return KeyForTest(path, " ".join(path.with_name(name + ".pub").read_text().split()[:2]))


@pytest.fixture()
def operator_key(tmp_path: Path) -> KeyForTest:
    """The operator's key, listed in the (test's) repository allowed-signers file."""
    return make_key(tmp_path / "keys", "operator")


@pytest.fixture()
def stranger_key(tmp_path: Path) -> KeyForTest:
    """A key nobody listed."""
    return make_key(tmp_path / "keys", "stranger")


@pytest.fixture()
def allowed_signers(tmp_path: Path, operator_key: KeyForTest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """certification/allowed_signers for this test (listing the operator) and the sandbox's folder, both in tmp_path."""
    path = tmp_path / "certification" / "allowed_signers"
    path.parent.mkdir()
    path.write_text("# the team's signers\n" + operator_key.allowed_line("ops@example.org"))
    monkeypatch.setattr(signing, "REPOSITORY_ALLOWED_SIGNERS", path)
    monkeypatch.setattr(signing, "SANDBOX_SIGNING_DIR", tmp_path / "sandbox-signing")
    return path


@pytest.fixture(scope="module")
def moto_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsEndpoint]:
    """A moto server of this test module's own (started and stopped here), as an AwsEndpoint."""
    server = MotoServer.start(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield endpoint_for(server.url)
    finally:
        server.stop()
