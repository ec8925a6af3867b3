"""Nix as a subprocess: find it, evaluate a flake's checks, build them, switch a NixOS host.

A thin wrapper around the ``nix`` and ``nixos-rebuild`` command-line tools. The
flags that make Nix work on this kind of machine live here and nowhere else:

* ``--extra-experimental-features 'nix-command flakes'``: Nix 2.8 (Debian 12's
  ``nix-bin``) needs both for ``nix eval``/``nix build`` on a flake.
* ``--option connect-timeout`` and ``download-attempts`` on evaluations: a flake
  whose inputs cannot be fetched fails within seconds instead of after long
  retries (builds keep Nix's own retries for the binary cache).
* local mode (``NixSettings.local``): ``--option substituters ''`` (no binary
  cache to query) and ``--option sandbox false`` for flakes that need no
  nixpkgs (``derivation`` with ``/bin/sh`` as builder), as in the harness's own
  tests. Not for the project's flake on a machine with Nix and network: there the
  binary cache and the build sandbox are wanted.
* as root without a Nix daemon and without the ``nixbld`` group,
  ``--option build-users-group ''`` (build as root).
"""
from __future__ import annotations

import grp
import json
import logging
import os
import platform
import shlex
import shutil
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from harness.errors import HarnessError
from harness.process import stop_group
from harness.logblock import block
from harness.redaction import redact

log = logging.getLogger("harness.nix")

INSTALL_HINT = (
    "install Nix (Debian/Ubuntu: `apt-get install nix-bin`; elsewhere: https://nixos.org/download) "
    "and make sure `nix` is on PATH"
)
NIXOS_REBUILD_HINT = (
    "run inside the project's dev shell (`nix develop`, it provides nixos-rebuild) or "
    "`nix shell nixpkgs#nixos-rebuild`"
)

# Phrases in Nix's stderr that mean an input (or anything else) could not be downloaded.
_FETCH_FAILURES = (
    "unable to download",
    "Couldn't resolve host",
    "Could not resolve host",
    "Couldn't connect to server",
    "Connection timed out",
    "Timeout was reached",
    "unable to fetch",
    "cannot fetch",
    "failed to fetch",
    "error: fetching Git repository",
    "does not appear to be a git repository",
    "HTTP error 4",
    "HTTP error 5",
)


@dataclass(frozen=True)
class NixSettings:
    """How to call Nix; one instance per run."""

    # Local mode: no binary cache and no build sandbox, for flakes that need no nixpkgs.
    local: bool = False
    # Seconds Nix waits for a connection before it counts a download attempt as failed.
    connect_timeout: int = 5
    # Download attempts per file (Nix's default is 5 with back-off).
    download_attempts: int = 2
    # Seconds an evaluation (including fetching the flake's inputs) may take.
    eval_timeout: float = 600.0
    # Seconds one check's build may take (a NixOS VM test builds a whole system).
    build_timeout: float = 3 * 3600.0
    # Lines of build output kept for the report when a build fails.
    log_tail_lines: int = 80


@dataclass(frozen=True)
class NixResult:
    """A finished nix invocation."""

    command: list[str]
    returncode: int
    stdout: str
    stderr: str


class FlakeEvalError(HarnessError):
    """The flake did not evaluate; ``fetch_failed`` tells whether its inputs could not be fetched."""

    def __init__(self, message: str, *, fetch_failed: bool, detail: str):
        super().__init__(message)
        self.fetch_failed = fetch_failed
        self.detail = detail


def find_nix() -> str:
    """Return the path of the ``nix`` executable; HarnessError with an install hint when missing."""
    path = shutil.which("nix")
    if path is None:
        raise HarnessError(f"`nix` is not installed (not found on PATH): {INSTALL_HINT}")
    return path


def nix_available() -> Optional[str]:
    """The reason Nix cannot be used, or None when it can."""
    try:
        find_nix()
    except HarnessError as exc:
        return str(exc)
    return None


def current_system() -> str:
    """The Nix system double of this machine (``x86_64-linux``, ``aarch64-linux``, ...)."""
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    return f"{machine}-{platform.system().lower()}"


def _needs_rootless_build_group() -> bool:
    """True when we are root, no Nix daemon is used, and the ``nixbld`` group does not exist."""
    if os.geteuid() != 0 or os.environ.get("NIX_REMOTE"):
        return False
    try:
        grp.getgrnam("nixbld")
    except KeyError:
        return True
    return False


def base_flags(settings: NixSettings, *, fail_fast: bool = True) -> list[str]:
    """The flags every ``nix`` call of the harness carries (see the module docstring).

    ``fail_fast`` (evaluations, where the flake's inputs are fetched) adds the short
    connect timeout and few download attempts; builds keep Nix's own retries for
    the binary cache.
    """
    flags = ["--extra-experimental-features", "nix-command flakes"]
    if fail_fast:
        flags += [
            "--option", "connect-timeout", str(settings.connect_timeout),
            "--option", "download-attempts", str(settings.download_attempts),
        ]
    if settings.local:
        flags += ["--option", "substituters", "", "--option", "sandbox", "false"]
    if _needs_rootless_build_group():
        flags += ["--option", "build-users-group", ""]
    return flags


def nix_command(args: Sequence[str], cwd: Path, *, settings: NixSettings = NixSettings(),
                timeout: Optional[float] = None) -> NixResult:
    """Run ``nix <flags> <args>`` in ``cwd`` and return its result (no exception on non-zero exit).

    A timeout or a missing ``nix`` is a HarnessError.
    """
    command = [find_nix(), *base_flags(settings), *args]
    limit = settings.eval_timeout if timeout is None else timeout
    log.info("running %s (in %s)", shlex.join(command), cwd)
    try:
        completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=limit,
                                   stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(
            f"`nix {shlex.join(args)}` did not finish within {limit:.0f} s (in {cwd}); "
            "if it was fetching inputs, check the network or run on a machine with Nix and network"
        ) from exc
    return NixResult(command, completed.returncode, completed.stdout, completed.stderr)


def _error_lines(stderr: str) -> str:
    """Nix's stderr without its noise (dirty-tree and retry warnings)."""
    lines = [line for line in stderr.splitlines()
             if line.strip() and "Git tree" not in line and "retrying in" not in line
             and "--show-trace" not in line]
    return redact("\n".join(lines[-20:]))


def is_fetch_failure(stderr: str) -> bool:
    """True when Nix's stderr says that something could not be downloaded or fetched."""
    return any(phrase.lower() in stderr.lower() for phrase in _FETCH_FAILURES)


def flake_checks(flake_dir: Path, *, settings: NixSettings = NixSettings()) -> dict[str, list[str]]:
    """The flake's ``checks`` as {system: [check names]}, evaluated with ``nix eval --json``.

    When the flake does not evaluate, FlakeEvalError says whether its inputs
    could not be fetched (``fetch_failed``) or the flake itself is broken.
    """
    flake_dir = Path(flake_dir)
    if not (flake_dir / "flake.nix").is_file():
        raise HarnessError(f"no flake.nix in {flake_dir}; point --flake at a directory that has one")
    apply = "checks: builtins.mapAttrs (system: perSystem: builtins.attrNames perSystem) checks"
    with block(f"evaluating the checks of the flake in {flake_dir}"):
        result = nix_command(["eval", "--json", ".#checks", "--apply", apply], flake_dir, settings=settings)
    if result.returncode != 0:
        detail = _error_lines(result.stderr)
        if is_fetch_failure(result.stderr):
            raise FlakeEvalError(
                f"the flake's inputs cannot be fetched here: {detail}\n"
                "The NixOS VM tests need nixpkgs (and KVM): run `pytest -m nixos` or `nix flake check` "
                "on a machine with Nix and network.",
                fetch_failed=True, detail=detail)
        raise FlakeEvalError(f"the flake in {flake_dir} does not evaluate: {detail}",
                             fetch_failed=False, detail=detail)
    try:
        by_system = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise HarnessError(f"`nix eval` printed something that is not JSON: {result.stdout[:200]!r}") from exc
    return {system: sorted(names) for system, names in by_system.items()}


def flake_check_names(flake_dir: Path, system: str, *, settings: NixSettings = NixSettings()) -> list[str]:
    """The names of ``checks.<system>`` of the flake in ``flake_dir`` ([] when it has none for it)."""
    return flake_checks(flake_dir, settings=settings).get(system, [])


def _stream(command: list[str], cwd: Path, timeout: float, tail_lines: int, label: str,
            env: Optional[dict[str, str]] = None) -> tuple[int, str]:
    """Run ``command``, log each output line (stdout and stderr merged), return (exit code, tail)."""
    tail: deque[str] = deque(maxlen=tail_lines)
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, errors="replace", env=env,
                               start_new_session=True)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            line = redact(line.rstrip("\n"))
            log.info("%s| %s", label, line)
            if "warning: Git tree" not in line:
                tail.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(process.pid, 10)
        reader.join(timeout=5)
        raise HarnessError(
            f"`{shlex.join(command[:1] + command[-4:])}` did not finish within {timeout:.0f} s; "
            "last output:\n" + "\n".join(tail)
        ) from None
    except BaseException:
        stop_group(process.pid, 10)  # interrupted: leave no builder behind
        raise
    reader.join(timeout=5)
    return returncode, "\n".join(tail)


def build_check(flake_dir: Path, system: str, name: str, *,
                settings: NixSettings = NixSettings()) -> tuple[bool, str]:
    """Build ``checks.<system>.<name>`` with ``nix build -L``; return (passed, tail of its log).

    The build's output is streamed into the harness log line by line.
    """
    attribute = f".#checks.{system}.{name}"
    command = [find_nix(), *base_flags(settings, fail_fast=False), "build", "--no-link", "-L", attribute]
    log.info("running %s (in %s)", shlex.join(command), flake_dir)
    started = time.monotonic()
    with block(f"nix build {attribute}"):
        returncode, tail = _stream(command, Path(flake_dir), settings.build_timeout, settings.log_tail_lines,
                                   label=name)
    log.info("nix build %s exited %d after %.1f s", attribute, returncode, time.monotonic() - started)
    return returncode == 0, tail


def flake_toplevel(flake_dir: Path, configuration: str = "inventory-tracker") -> str:
    """The store path of ``nixosConfigurations.<configuration>``'s system (its toplevel) built from ``flake_dir``:
    what ``/run/current-system`` of a host switched to this checkout points to."""
    attribute = f".#nixosConfigurations.{configuration}.config.system.build.toplevel.outPath"
    result = nix_command(["eval", "--raw", attribute], flake_dir)
    if result.returncode != 0:
        raise HarnessError(f"cannot evaluate the flake's system ({attribute}): {_error_lines(result.stderr)}")
    return result.stdout.strip()


def nixos_switch(flake_dir: Path, target_host: str, user: str, *, ssh_key: Optional[Path] = None,
                 configuration: str = "inventory-tracker", timeout: float = 3600.0) -> str:
    """Apply ``nixosConfigurations.<configuration>`` to ``user@target_host`` with nixos-rebuild.

    Runs ``nixos-rebuild switch --flake .#<configuration> --target-host <user>@<host>
    --use-remote-sudo`` in ``flake_dir``, its output streamed into the log; returns the
    output's tail. HarnessError when nix or nixos-rebuild is missing or the switch fails.
    """
    find_nix()
    rebuild = shutil.which("nixos-rebuild")
    if rebuild is None:
        raise HarnessError(f"`nixos-rebuild` is not installed (not found on PATH): {NIXOS_REBUILD_HINT}")
    env = dict(os.environ)
    ssh_options = ["-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes",
                   "-o", "ConnectTimeout=10"]
    if ssh_key is not None:
        ssh_options += ["-i", str(ssh_key), "-o", "IdentitiesOnly=yes"]
    env["NIX_SSHOPTS"] = " ".join(shlex.quote(option) for option in ssh_options)
    env["NIX_CONFIG"] = "extra-experimental-features = nix-command flakes\n" + env.get("NIX_CONFIG", "")
    command = [rebuild, "switch", "--flake", f".#{configuration}", "--target-host", f"{user}@{target_host}",
               "--use-remote-sudo"]
    with block(f"nixos-rebuild switch .#{configuration} on {user}@{target_host}", stage=False):
        returncode, tail = _stream(command, Path(flake_dir), timeout, 80, label="nixos-rebuild", env=env)
    if returncode != 0:
        raise HarnessError(
            f"nixos-rebuild switch to {user}@{target_host} failed (exit {returncode}); "
            f"output tail:\n{tail}"
        )
    return tail
