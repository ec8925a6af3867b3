"""`make bench`: how fast the sandbox certifies, against the floor Terraform sets.

Speed is a feature: this is the benchmark (not a timed test). Each round measures, on
this machine and against the same emulator:

* ``apply_alone``: ``terraform apply`` of the same configuration on a fresh moto server,
  nothing else running (the floor: the AWS provider waits 55 s after creating the
  bucket's lifecycle rule, on AWS as well);
* a whole certification (``pytest``): ``certify`` (its wall time, teardown included),
  ``time_to_certificate`` (start to the end of the checks), ``boot_alone`` (its instance
  stage: the container boots by itself while the apply goes on), ``teardown`` (its
  teardown steps);
* a certification kept at the end (``pytest --keep``) and its re-certification
  (``pytest --reuse RUN_ID``): ``recertify`` (the second's time to certificate) and
  ``checks`` (all checks together on that warm deployment: from the end of its last
  set-up stage to the end of its checks); the kept deployment is removed afterwards.

Each figure is ``{"min", "median", "max"}`` over the rounds, in reports/bench.json
(and its page reports/bench.html); ``ratio_to_floor`` is
``time_to_certificate.median / apply_alone.median``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from harness.errors import HarnessError
from harness.report import write_report
from harness.spec import REPO_ROOT

FIGURES = ("apply_alone", "boot_alone", "certify", "time_to_certificate", "checks", "teardown", "recertify")
# The targets of the speed issue, in seconds (a ratio for time_to_certificate: apply alone + 15 s).
TARGETS = {"checks": 5.0, "recertify": 10.0}
FLOOR_SLACK_SECONDS = 15.0


def apply_alone(workdir: Path) -> float:
    """Seconds of ``terraform apply`` of terraform/ (sandbox variables) on a moto server of its own."""
    from harness.aws import MotoServer, endpoint_for
    from harness.keys import generate_keypair
    from harness.runid import new_run_id
    from harness.terraform import Terraform, prepare_workdir, run_variables, terraform_env

    run_id = new_run_id()
    workdir.mkdir(parents=True, exist_ok=True)
    server = MotoServer.start(workdir / "moto.log")
    try:
        endpoint = endpoint_for(server.url)
        keypair = generate_keypair(workdir / "keys", comment=f"bench-{run_id}")
        terraform = Terraform(prepare_workdir(REPO_ROOT / "terraform", workdir, endpoint.endpoint_url),
                              terraform_env(workdir, endpoint.env))
        variables = run_variables("sandbox", run_id, keypair.public_openssh, persistent=False)
        tfvars = REPO_ROOT / "terraform" / "sandbox.tfvars"
        try:
            terraform.init()
            started = time.monotonic()
            terraform.apply(tfvars, variables)
            seconds = time.monotonic() - started
            terraform.destroy(tfvars, variables, refresh=False)
        finally:
            terraform.close()
        return round(seconds, 2)
    finally:
        server.stop()


def certification(reports: Path, runs: Path, extra_args: list[str]) -> dict[str, Any]:
    """One sandbox certification in a subprocess; its certificate with ``wall_seconds`` added."""
    started = time.monotonic()
    proc = subprocess.run(
        # "--opt=value": a path given apart would be taken for a test path once it exists (the second run)
        [sys.executable, "-m", "pytest", "-q", f"--reports-dir={reports}", f"--runs-dir={runs}", *extra_args],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )
    wall = time.monotonic() - started
    certificate = reports / "certificate.json"
    if proc.returncode != 0 or not certificate.exists():
        raise HarnessError(f"benchmark run failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    document = json.loads(certificate.read_text())
    certificate.unlink()  # the next run's certificate must be its own
    document["wall_seconds"] = round(wall, 2)
    return document


def stage_seconds(document: dict[str, Any], name: str, kind: Optional[str] = None) -> float:
    """The seconds of the record ``name`` (of ``kind``) in a certificate's stages (0 when absent)."""
    return sum(s["seconds"] for s in document.get("stages", [])
               if s["name"] == name and (kind is None or s.get("kind") == kind))


def checks_seconds(document: dict[str, Any]) -> float:
    """All checks together, on a deployment that is up: from the end of the run's last set-up stage to the end
    of its checks (the checks that need no deployment run beside the stages; those that mostly wait run
    together: harness/plugin/concurrent_checks.py)."""
    stages = [s for s in document.get("stages", []) if s.get("kind") == "stage"]
    checks = [s for s in document.get("stages", []) if s.get("kind") == "checks"]
    if not stages or not checks:
        return 0.0
    ready = max(dt.datetime.fromisoformat(s["ended_at"].replace("Z", "+00:00")) for s in stages)
    done = dt.datetime.fromisoformat(checks[-1]["ended_at"].replace("Z", "+00:00"))
    return round(max(0.0, (done - ready).total_seconds()), 2)


def one_round(extra_args: list[str]) -> dict[str, float]:
    """The figures of one round (see the module's docstring)."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        folder = Path(tmp)
        figures = {"apply_alone": apply_alone(folder / "apply-alone")}
        whole = certification(folder / "reports", folder / "runs", extra_args)
        kept = certification(folder / "reports", folder / "runs", ["--keep", *extra_args])
        try:
            again = certification(folder / "reports", folder / "runs",
                                  [f"--reuse={kept['run_id']}", *extra_args])
        finally:
            from harness.sweep import sweep  # a re-certified kept run stays up: remove it

            sweep(folder / "runs", kept["run_id"])
        figures.update(
            boot_alone=stage_seconds(whole, "instance", "stage"),
            certify=whole["wall_seconds"],
            time_to_certificate=whole["time_to_certificate_seconds"],
            checks=checks_seconds(again),
            teardown=whole["teardown_seconds"],
            recertify=again["time_to_certificate_seconds"],
        )
        return figures


def summarize(rounds: list[dict[str, float]]) -> dict[str, Any]:
    """Each figure's min, median and max over the rounds; the ratio to the floor; the targets."""
    document: dict[str, Any] = {}
    for name in FIGURES:
        values = [r[name] for r in rounds if r.get(name) is not None]
        if values:
            document[name] = {"min": round(min(values), 2), "median": round(statistics.median(values), 2),
                              "max": round(max(values), 2)}
    floor, reached = document.get("apply_alone"), document.get("time_to_certificate")
    if floor and reached and floor["median"] > 0:
        document["ratio_to_floor"] = round(reached["median"] / floor["median"], 3)
    targets = {name: {"target": limit, "median": document[name]["median"], "met": document[name]["median"] <= limit}
               for name, limit in TARGETS.items() if name in document}
    if floor and reached:
        limit = floor["median"] + FLOOR_SLACK_SECONDS
        targets["time_to_certificate"] = {"target": round(limit, 2), "median": reached["median"],
                                          "met": reached["median"] <= limit}
    document["targets"] = targets
    return document


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds (each: apply alone, certify kept, re-certify)")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "reports" / "bench.json")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    try:
        rounds = [one_round(args.pytest_args) for _ in range(args.runs)]
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    document = {"runs": args.runs, **summarize(rounds), "rounds": rounds,
                "issued_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    page = write_report(document, args.output.with_suffix(".html"))
    print(f"{'figure':<22} {'min':>8} {'median':>8} {'max':>8}   ({args.runs} rounds, seconds)")
    for name in FIGURES:
        if name in document:
            values = document[name]
            print(f"{name:<22} {values['min']:8.1f} {values['median']:8.1f} {values['max']:8.1f}")
    if "ratio_to_floor" in document:
        print(f"{'ratio_to_floor':<22} {document['ratio_to_floor']:8.3f}   (time to certificate / apply alone)")
    for name, target in document["targets"].items():
        print(f"target {name:<15} median {target['median']:.1f} s <= {target['target']:.1f} s: "
              f"{'met' if target['met'] else 'NOT met'}")
    print(f"written to {args.output} and {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
