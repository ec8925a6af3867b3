"""`make clean`: remove what dead or kept runs left behind, found by run id.

A run whose owning process is gone (crashed, killed, or kept with --keep) is
swept: its containers, namespaces and nft tables (harness.sandbox.sweep), its
cloud resources (terraform destroy outside the sandbox), its moto server, and
its run directory.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Optional

from harness.process import pid_alive, stop_group
from harness.errors import HarnessError
from harness.logblock import block
from harness.runid import is_run_id
from harness.sandbox import sweep as sandbox_sweep
from harness.spec import REPO_ROOT
from harness.terraform import Terraform, terraform_env

DEFAULT_RUNS_DIR = REPO_ROOT / "runs"


def _state(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def sweep_run(run_dir: Path) -> None:
    """Remove everything one run created, then its directory."""
    state = _state(run_dir)
    with block(f"sweeping run {run_dir.name}"):
        sandbox_sweep.sweep_run(run_dir)
        moto = state.get("moto")
        if moto and pid_alive(moto["pid"]):
            stop_group(moto["pid"])  # the sandbox's cloud resources live only in moto
        elif state.get("environment") not in (None, "sandbox") and (run_dir / "terraform").is_dir():
            _destroy(run_dir, state)
        shutil.rmtree(run_dir, ignore_errors=True)


def _destroy(run_dir: Path, state: dict[str, Any]) -> None:
    terraform = Terraform(run_dir / "terraform", terraform_env(run_dir, {}))
    if terraform.has_state():
        variables = {"environment": state["environment"], "run_id": run_dir.name,
                     "public_key": (run_dir / "keys" / "id_ed25519.pub").read_text().strip()}
        terraform.destroy(Path(state["tfvars"]), variables)


def sweep(runs_dir: Path, run_id: Optional[str] = None) -> list[str]:
    """Sweep one run (``run_id``) or every run whose owning process is gone; return their ids."""
    swept = []
    if runs_dir.is_dir():
        for run_dir in sorted(runs_dir.iterdir()):
            if not (run_dir / "run.json").exists() and not is_run_id(run_dir.name):
                continue
            if run_id and run_dir.name != run_id:
                continue
            owner = _state(run_dir).get("owner_pid")
            if run_id is None and owner and pid_alive(owner):
                continue  # a live run cleans up after itself
            sweep_run(run_dir)
            swept.append(run_dir.name)
    if run_id and run_id not in swept:
        raise HarnessError(f"no run {run_id} in {runs_dir}; `ls {runs_dir}` lists the runs")
    sandbox_sweep.sweep_orphans()
    return swept


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR)
    parser.add_argument("--run", help="sweep only this run id (e.g. a kept run)")
    args = parser.parse_args(argv)
    try:
        swept = sweep(args.runs_dir, args.run)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"swept {len(swept)} run(s){': ' + ', '.join(swept) if swept else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
