"""Secrets delivery to a NixOS host after the switch (a recording fake SSH session stands in for the host)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from types import SimpleNamespace

from harness.secrets import parse_env_file, password_from_database_url
from harness.nixos_host import deliver_nixos_secrets
from harness.spec import load_spec


@dataclass
class Result:
    exit_status: int
    stdout: str = ""
    stderr: str = ""


@dataclass
class RecordingSession:
    """Records what would run on the host; ``files`` is the host's file system."""

    files: dict[str, tuple[bytes, int, str]] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)

    def sudo(self, command: str, **kw) -> Result:
        self.commands.append(command)
        return Result(0)

    @property
    def host(self) -> "RecordingHost":
        return RecordingHost(self.files)

    def put_file(self, path: str, data: bytes, *, mode: int, owner: str, group: str) -> bool:
        changed = self.files.get(path) != (data, mode, owner)
        self.files[path] = (data, mode, owner)
        return changed


@dataclass
class RecordingHost:
    """The testinfra side of the fake: files as root."""

    files: dict[str, tuple[bytes, int, str]]

    @contextlib.contextmanager
    def sudo(self):
        yield

    def file(self, path: str):
        entry = self.files.get(path)
        return SimpleNamespace(exists=entry is not None, content_string=entry[0].decode() if entry else None)


def test_secrets_file_written_private_and_units_restarted():
    spec = load_spec()
    host = RecordingSession()
    password = deliver_nixos_secrets(host, spec)
    data, mode, owner = host.files[spec["app"]["env_file"]]
    values = parse_env_file(data.decode())
    assert mode == 0o600 and owner == spec["app"]["user"]
    assert password_from_database_url(values["DATABASE_URL"]) == password.reveal()
    assert values["DATABASE_PASSWORD_SCRAM"].startswith("SCRAM-SHA-256$")
    assert password.reveal() not in values["DATABASE_PASSWORD_SCRAM"]
    assert len(values["SECRET_KEY_BASE"]) >= 48
    assert any("systemctl restart" in c and f"{spec['app']['name']}.service" in c for c in host.commands)
    assert all(password.reveal() not in c for c in host.commands)  # never on a command line


def test_second_delivery_keeps_the_file_and_the_password():
    spec = load_spec()
    host = RecordingSession()
    first = deliver_nixos_secrets(host, spec)
    before = dict(host.files)
    host.commands.clear()
    second = deliver_nixos_secrets(host, spec)
    assert second == first and host.files == before
    assert not any("restart" in c for c in host.commands)
