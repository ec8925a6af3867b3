"""The run context: one run id, one run directory, the options, the run's key pair.

The run id (harness/runid.py) names everything a run creates. A sandbox run makes its own key
pair; staging and production use their environment's operator key (harness/target_cloud.py).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

from harness.errors import HarnessError
from harness.keys import KeyPair, generate_keypair
from harness.options import RunOptions
from harness.runid import new_run_id
from harness.spec import load_spec
from harness.tls import RunCA

@dataclass
class RunContext:
    """Everything that identifies one run and where it keeps its state."""

    run_id: str
    run_dir: Path
    options: RunOptions
    keypair: KeyPair
    spec: dict[str, Any] = field(default_factory=load_spec)

    @property
    def environment(self) -> str:
        return self.options.environment

    @property
    def policy(self) -> str:
        return self.options.policy

    @property
    def keep(self) -> bool:
        """True when the deployment must be left running at the end (--keep, or a reused kept run)."""
        return self.options.keep or self.options.reuse is not None

    @property
    def reused(self) -> bool:
        return self.options.reuse is not None

    @property
    def cloud(self) -> Optional[str]:
        """Where staging/production run: "aws" or "sandbox" (the long-lived sandbox cloud); None in the sandbox."""
        return self.options.cloud

    @property
    def host_os(self) -> str:
        """The host's operating system: ``debian`` (sandbox provisioner) or ``nixos``."""
        from harness.target_cloud import host_os

        return host_os(self.options)

    @property
    def tls_trust(self) -> str | bool:
        """What the host's TLS is verified against: the CA file where the sandbox provisioner made its
        certificate, else True (the system trust store)."""
        return str(self.ca.cert_path) if self.host_os == "debian" else True

    @cached_property
    def ca(self) -> RunCA:
        """The certificate authority that signs a sandbox host's certificate: the run's own (key in the run
        folder), or the long-lived sandbox cloud's, whose hosts outlive runs."""
        from harness.target_cloud import ca_directory

        return RunCA.open(ca_directory(self.options, self.run_dir), self.run_id)

    # --- state shared between the stages of a kept run and its reuse ---
    def state_path(self) -> Path:
        return self.run_dir / "run.json"

    def load_state(self) -> dict[str, Any]:
        path = self.state_path()
        return json.loads(path.read_text()) if path.exists() else {}

    def save_state(self, **values: Any) -> None:
        """Merge ``values`` into the run's state file (run.json)."""
        state = self.load_state()
        state.update(values)
        self.state_path().write_text(json.dumps(state, indent=2, default=str))


def open_run(options: RunOptions) -> RunContext:
    """Create a new run (or attach to a kept one with ``options.reuse``)."""
    if options.reuse:
        run_dir = options.runs_dir / options.reuse
        if not (run_dir / "run.json").exists():
            raise HarnessError(
                f"--reuse {options.reuse}: no kept run in {run_dir}; "
                f"list kept runs with `ls {options.runs_dir}` or start a new run without --reuse"
            )
        key_path = run_dir / "keys" / "id_ed25519"
        public = (run_dir / "keys" / "id_ed25519.pub").read_text().strip()
        from harness.run_lock import hold

        hold(options.reuse)  # this process works on the kept run now: sweeps from other runs folders leave it be
        return RunContext(options.reuse, run_dir, options, KeyPair(key_path, public))
    from harness.target_cloud import operator_keypair

    operator = operator_keypair(options)  # before anything is created: a missing key leaks nothing
    run_id = new_run_id()
    run_dir = options.runs_dir / run_id
    run_dir.mkdir(parents=True)
    keypair = operator or generate_keypair(run_dir / "keys", comment=f"harness-{run_id}")
    context = RunContext(run_id, run_dir, options, keypair)
    context.save_state(run_id=run_id, environment=options.environment, kept=False, owner_pid=os.getpid())
    return context
