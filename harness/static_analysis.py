"""The static analysis of a Terraform configuration: terraform fmt, terraform validate, checkov.

Each is a subprocess that reads the configuration and creates nothing in any account. They start
together, each in its own thread, as soon as a run knows it will check them (harness/plugin/static_checks.py),
so that they cost a certification nothing but their own wall time beside the deployment;
suites/test_static.py judges their results. checkov runs from its own venv (.venv-checkov; its
pins conflict with pytest's: a link to the machine's one venv of that checkov, which `make setup` makes once), or
CHECKOV_BIN.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

from harness.errors import HarnessError
from harness.process import pid_alive
from harness.spec import REPO_ROOT, SPEC_PATH
from harness.static_cache import cache_key, cached, file_identity, tree_identity
from harness.terraform import find_provider_mirror, prepare_workdir, terraform_binary, terraform_env

DEFAULT_CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
TIMEOUT = 300  # seconds each tool may take


# The tools' processes still running, so that a run that ends early (an error, an interrupt) stops them:
# they run in threads, which no KeyboardInterrupt reaches.
RUNNING: set[subprocess.Popen] = set()
_running_lock = threading.Lock()


def run_tool(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one tool to its end (HarnessError when it takes longer than TIMEOUT)."""
    with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:
        with _running_lock:
            RUNNING.add(process)
        try:
            out, err = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            raise HarnessError(f"{command[0]} {command[1]} did not finish within {TIMEOUT} s in {cwd}") from None
        finally:
            with _running_lock:
                RUNNING.discard(process)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def stop_tools() -> None:
    """Kill the tools still running (a run that ends before their checks took their results)."""
    with _running_lock:
        running = list(RUNNING)
    for process in running:
        process.kill()
        process.wait()


def checkov_binary() -> Path:
    """checkov from CHECKOV_BIN or .venv-checkov; HarnessError with the fix when missing."""
    configured = os.environ.get("CHECKOV_BIN")
    path = Path(configured) if configured else DEFAULT_CHECKOV
    if not os.access(path, os.X_OK):
        raise HarnessError(
            f"checkov not found at {path}; `make setup` installs it in its own venv (.venv-checkov), "
            "or set CHECKOV_BIN to a checkov executable")
    return path


def fmt(terraform_dir: Path) -> list[str]:
    """The files ``terraform fmt -check -recursive`` would reformat."""
    # fmt needs no providers; an empty CLI config avoids warnings about a missing one.
    env = dict(os.environ, TF_CLI_CONFIG_FILE=os.devnull, CHECKPOINT_DISABLE="1")
    result = run_tool([terraform_binary(), "fmt", "-check", "-recursive", "-no-color", "."], cwd=terraform_dir,
                      env=env)
    if result.returncode not in (0, 3):
        raise HarnessError(f"terraform fmt could not run in {terraform_dir}: {result.stderr.strip()[-1000:]}")
    files = result.stdout.split()
    return files or ([] if result.returncode == 0 else ["(terraform fmt -check failed without naming a file)"])


def validate(terraform_dir: Path, workdir: Path) -> dict[str, Any]:
    """``terraform validate -json`` of a copy of the configuration (spec.json beside it, as the harness lays out
    a run), initialised without a backend; kept by its inputs (harness/static_cache.py)."""
    binary = Path(terraform_binary())
    mirror = find_provider_mirror()
    inputs = [file_identity(binary), hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest(),
              *(tree_identity(mirror, "registry.terraform.io/**/*") if mirror else ["registry"])]
    return dict(cached("validate", cache_key("validate", terraform_dir, inputs),
                       lambda: run_validate(terraform_dir, workdir)))


def run_validate(terraform_dir: Path, workdir: Path) -> dict[str, Any]:
    """``terraform validate -json`` of the configuration, run now."""
    copy = prepare_workdir(terraform_dir, workdir, endpoint_url=None)
    env = terraform_env(workdir, dict(os.environ))
    result = run_tool([terraform_binary(), "init", "-backend=false", "-input=false", "-no-color"], cwd=copy, env=env)
    if result.returncode != 0:
        raise HarnessError(f"terraform init -backend=false failed in a copy of {terraform_dir} (is the AWS provider "
                           f"mirror in place? HARNESS_TF_MIRROR):\n{result.stderr.strip()[-2000:]}")
    result = run_tool([terraform_binary(), "validate", "-json", "-no-color"], cwd=copy, env=env)
    try:
        return dict(json.loads(result.stdout))
    except json.JSONDecodeError:
        raise HarnessError(f"terraform validate printed no JSON: {result.stderr.strip()[-1000:]}") from None


def checkov(terraform_dir: Path) -> dict[str, Any]:
    """checkov's JSON report over the configuration's Terraform (offline: --skip-download); kept by its inputs
    (harness/static_cache.py): the configuration, checkov and the packages of its venv."""
    binary = checkov_binary()
    inputs = [file_identity(binary), *tree_identity(binary.parent.parent, "lib/python*/site-packages/*.dist-info/METADATA")]
    return dict(cached("checkov", cache_key("checkov", terraform_dir, inputs), lambda: run_checkov(terraform_dir)))


def run_checkov(terraform_dir: Path) -> dict[str, Any]:
    """checkov's JSON report over the configuration, run now."""
    command = [str(checkov_binary()), "-d", str(terraform_dir), "--framework", "terraform", "--compact",
               "--skip-download", "-o", "json"]
    result = run_tool(command, cwd=terraform_dir.parent, env=dict(os.environ, BC_SKIP_MAPPING="TRUE"))
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise HarnessError(f"checkov printed no JSON (exit {result.returncode}): "
                           f"{result.stderr.strip()[-1500:]}") from None
    reports = report if isinstance(report, list) else [report]
    terraform = [r for r in reports if r.get("check_type") == "terraform"]
    if not terraform:
        raise HarnessError(f"checkov found no Terraform resources in {terraform_dir}: {str(report)[:500]}")
    return dict(terraform[0])


STATIC_COPY = re.compile(r"static-(\d+)-[a-z0-9_]+")  # a run's working copy for terraform validate, by its pid


def make_static_copy_folder(runs_dir: Path) -> Path:
    """A new folder in ``runs_dir`` for this process's ``terraform validate`` working copy.

    It lives beside the runs, named after this process, so that when a run is killed before it can remove it,
    the next run or ``make clean`` does (:func:`remove_dead_static_copies`); a folder in ``/tmp`` was left there.
    """
    runs_dir.mkdir(parents=True, exist_ok=True)
    remove_dead_static_copies(runs_dir)
    return Path(tempfile.mkdtemp(prefix=f"static-{os.getpid()}-", dir=runs_dir))


def remove_dead_static_copies(runs_dir: Path) -> list[str]:
    """Remove the static working copies in ``runs_dir`` whose process is gone; return their names."""
    removed = []
    for folder in sorted(runs_dir.glob("static-*")) if runs_dir.is_dir() else []:
        match = STATIC_COPY.fullmatch(folder.name)
        if match and folder.is_dir() and not pid_alive(int(match[1])):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


class StaticAnalysis:
    """fmt, validate and checkov of ``terraform_dir``, all started at once, each in its own thread."""

    def __init__(self, terraform_dir: Path, workdir: Path):
        self.terraform_dir = terraform_dir
        self.results: dict[str, Future] = {}
        self._start("fmt", lambda: fmt(terraform_dir))
        self._start("validate", lambda: validate(terraform_dir, workdir))
        self._start("checkov", lambda: checkov(terraform_dir))

    def _start(self, name: str, work: Callable[[], Any]) -> None:
        future: Future = Future()
        future.set_running_or_notify_cancel()

        def run() -> None:
            try:
                future.set_result(work())
            except BaseException as exc:  # raised again to the check that takes the result
                future.set_exception(exc)

        self.results[name] = future
        threading.Thread(target=run, name=f"static {name}", daemon=True).start()

    def result(self, name: str) -> Any:
        """The result of ``name`` (fmt, validate, checkov), waiting for it; its error raised again."""
        return self.results[name].result(timeout=TIMEOUT + 30)

