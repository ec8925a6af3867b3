"""A production switch that the whole certification decides: certify, or roll back and certify again.

Before the host of production is switched (``--allow-production-apply``), the harness

1. keeps the previous generation: on NixOS the number of the system profile's current generation,
   in the sandbox cloud the sandbox provisioner's configuration as a generation of its own
   (fixtures/sandbox/generations.py, a stand-in for the system profile);
2. takes a fresh base backup (the database migrations that the new generation runs come after it);
3. polls ``/health`` through Nginx every 0.5 s while the switch runs (harness/availability.py) and
   records the longest time it did not answer 200.

When the certification of the switched host fails, :func:`roll_back_and_recertify` switches the
host back to that generation and runs the read-only production certification again (a second
pytest run, its reports in ``reports/rollback/``). The run still exits non-zero; what it writes
says which checks failed, that production was rolled back, and the re-certification's result.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from harness.errors import HarnessError
from harness.logblock import block, log
from harness.options import RunOptions
from harness.spec import REPO_ROOT
from harness.unit_jobs import run_unit_job

NIXOS_SYSTEM_PROFILE = "/nix/var/nix/profiles/system"
ROLLBACK_REPORTS = "rollback"  # reports/rollback/: the re-certification's own reports
RESTARTED_ON_ROLLBACK = ("postgresql.service", "inventory-tracker.service", "nginx.service", "ssh.service")


@dataclass
class SwitchRecord:
    """What the run knows about its production switch (the certificate states it, without the key's path)."""

    host_os: str  # "debian" (sandbox provisioner) or "nixos"
    address: str
    user: str
    previous_generation: Optional[int]  # None: the host had never been configured (nothing to go back to)
    base_backup: str  # what happened to the fresh base backup before the switch
    health: dict[str, Any] = field(default_factory=dict)  # harness.availability.HealthPoller.summary()
    key_path: Optional[str] = field(default=None, repr=False)

    def stated(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("key_path")
        return values


def previous_generation(ssh: Any, spec: dict[str, Any], host_os: str) -> Optional[int]:
    """Keep (sandbox) or find (NixOS) the generation the host runs before the switch."""
    if host_os == "debian":
        from fixtures.sandbox.generations import save_generation

        return save_generation(ssh, spec)
    link = ssh.run(f"readlink {NIXOS_SYSTEM_PROFILE}", check=False)
    name = str(link.stdout).strip()  # system-<n>-link
    return int(name.split("-")[1]) if link.exit_status == 0 and name.startswith("system-") else None


def fresh_base_backup(ssh: Any, spec: dict[str, Any]) -> str:
    """A base backup before the switch (its migrations run after it); what happened, in words."""
    unit = f"{spec['app']['name']}-base-backup.service"
    if ssh.sudo(f"systemctl cat {shlex.quote(unit)}", check=False).exit_status != 0:
        return f"none: {unit} does not exist yet (the host's first configuration)"
    with block("fresh base backup before the production switch", stage=False):
        try:
            run_unit_job(ssh, unit, "base backup before the production switch")
        except HarnessError as exc:
            raise HarnessError(f"{exc}\nProduction is not switched without it.") from None
    return f"taken ({unit})"


def roll_back_host(switch: SwitchRecord, spec: dict[str, Any]) -> None:
    """Switch the host back to ``switch.previous_generation``."""
    from harness.ssh import SshSession

    assert switch.previous_generation is not None
    with SshSession(switch.address, switch.user, Path(switch.key_path) if switch.key_path else None) as ssh:
        if switch.host_os == "debian":
            from fixtures.sandbox.generations import roll_back

            roll_back(ssh, spec, switch.previous_generation, list(RESTARTED_ON_ROLLBACK))
            return
        command = (f"nix-env -p {NIXOS_SYSTEM_PROFILE} --switch-generation {switch.previous_generation} && "
                   f"{NIXOS_SYSTEM_PROFILE}/bin/switch-to-configuration switch")
        result = ssh.sudo(f"sh -c {shlex.quote(command)}", check=False, timeout=600)
        if result.exit_status != 0:
            raise HarnessError(f"rolling NixOS back to generation {switch.previous_generation} failed: "
                               f"{str(result.stderr).strip()[-600:]}")


def recertify_command(options: RunOptions) -> list[str]:
    """The read-only production certification, as a run of its own with its reports in reports/rollback/."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "production",
               "--rootdir", str(REPO_ROOT), "-c", str(REPO_ROOT / "pytest.ini"),
               f"--reports-dir={options.reports_dir / ROLLBACK_REPORTS}", f"--runs-dir={options.runs_dir}",
               f"--terraform-dir={options.terraform_dir}", f"--tfvars={options.tfvars}"]
    if options.cloud:
        command.append(f"--cloud={options.cloud}")
    if options.signing_key:
        command.append(f"--signing-key={options.signing_key}")
    if options.operator_key:
        command.append(f"--operator-key={options.operator_key}")
    return command


def roll_back_and_recertify(options: RunOptions, switch: SwitchRecord, failed: list[str],
                            spec: dict[str, Any]) -> dict[str, Any]:
    """Roll production back after a failed certification and certify it again; what happened, for the record."""
    started = time.monotonic()
    outcome: dict[str, Any] = {"failed_checks": failed, "rolled_back_to_generation": switch.previous_generation}
    if switch.previous_generation is None:
        outcome["rolled_back"] = False
        outcome["reason"] = "the host had no earlier generation (this was its first configuration)"
        return outcome
    try:
        with block(f"rolling production back to generation {switch.previous_generation}", stage=False):
            roll_back_host(switch, spec)
    except HarnessError as exc:
        outcome.update(rolled_back=False, reason=str(exc))
        return outcome
    outcome["rolled_back"] = True
    with block("re-certifying production after the rollback", stage=False):
        completed = subprocess.run(recertify_command(options), capture_output=True, text=True, cwd=REPO_ROOT,
                                   env=dict(os.environ), stdin=subprocess.DEVNULL, timeout=1800)
    path = options.reports_dir / ROLLBACK_REPORTS / "certificate-production.json"
    certificate = json.loads(path.read_text()) if completed.returncode == 0 and path.is_file() else None
    outcome["recertified"] = bool(certificate and certificate.get("certified"))
    outcome["recertification_exit_status"] = completed.returncode
    outcome["recertification_certificate"] = str(path) if certificate else None
    outcome["seconds_to_recertified"] = round(time.monotonic() - started, 1)
    if not outcome["recertified"]:
        log.error("the re-certification after the rollback failed too (exit %d):\n%s", completed.returncode,
                  completed.stdout[-3000:])
    return outcome
