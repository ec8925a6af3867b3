"""Runs the certification harness as a user would (pytest in a subprocess) and looks for leaks."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from harness.spec import REPO_ROOT



@dataclass
class HarnessRun:
    """A finished harness run: exit code, output, and where it wrote reports."""

    returncode: int
    output: str
    reports_dir: Path
    runs_dir: Path
    leaks: list[str] = field(default_factory=list)

    def outcomes(self) -> dict[str, tuple[str, str]]:
        """Test name -> (outcome, failure message) from the run's JUnit XML."""
        import xml.etree.ElementTree as ET

        path = self.reports_dir / "junit.xml"
        if not path.exists():
            return {}
        result = {}
        for case in ET.parse(path).getroot().iter("testcase"):
            outcome, message = "passed", ""
            for tag in ("failure", "error", "skipped"):
                node = case.find(tag)
                if node is not None:
                    outcome = {"failure": "failed"}.get(tag, tag)
                    message = (node.get("message") or "") + "\n" + (node.text or "")
                    break
            result[case.get("name", "")] = (outcome, message)
        return result

    def failed(self) -> set[str]:
        return {name for name, (outcome, _) in self.outcomes().items() if outcome in ("failed", "error")}

    def certificate(self) -> Optional[dict]:
        path = self.reports_dir / "certificate.json"
        return json.loads(path.read_text()) if path.exists() else None


def processes_tagged(tag: str) -> list[str]:
    """Processes (pid and command line) whose environment carries ``HARNESS_TEST_TAG=tag``, or that work in the
    folder ``tag`` names.

    Every process a harness run starts (moto, terraform, providers, systemd-nspawn)
    inherits the tag, so this finds exactly what that run left, whatever else runs. A moto server forked by the
    test session's zygote (harness/moto_zygote.py) has the zygote's environment, but works in its run's folder.
    """
    needle = f"HARNESS_TEST_TAG={tag}".encode()
    folder = tag.rstrip("/") + "/"
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            tagged = needle in (proc / "environ").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd") if not tagged and tag.startswith("/") else ""
            if tagged or (cwd + "/").startswith(folder):
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{proc.name} {cmdline}" + (f" (in {cwd})" if cwd else ""))
        except OSError:
            continue
    return found


def harness_command(args: list[str], workdir: Path, root: Path = REPO_ROOT) -> list[str]:
    return [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
        "--rootdir", str(root), "-c", str(root / "pytest.ini"),
        f"--runs-dir={workdir / 'runs'}", f"--reports-dir={workdir / 'reports'}",
        # its own temporary folder: a run left to share /tmp/pytest-of-<user> prunes the numbered folders the
        # surrounding test session still uses (CI: FileExistsError on popen-gw2)
        f"--basetemp={workdir / 'pytest-tmp'}",
        *args,
    ]


def _env(workdir: Path, extra: Optional[dict[str, str]], root: Path = REPO_ROOT) -> dict[str, str]:
    # PYTHONPATH: the harness of ``root`` (a clone, for a run of another commit), not the installed one.
    path = os.pathsep.join(filter(None, [str(root), (extra or {}).get("PYTHONPATH")]))
    return {**os.environ, **(extra or {}), "HARNESS_TEST_TAG": str(workdir), "PYTHONPATH": path}


def run_harness(args: list[str], workdir: Path, *, env: Optional[dict[str, str]] = None,
                timeout: float = 900, root: Path = REPO_ROOT) -> HarnessRun:
    """Run pytest with the harness plugin (of checkout ``root``); report exit code, output and leaked
    processes/run dirs."""
    proc = subprocess.Popen(harness_command(args, workdir, root), cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(workdir, env, root))
    try:
        output, _ = proc.communicate(timeout=timeout)
    except BaseException:
        # A SIGKILL would strand what the run started: let it tear down first.
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=180)
        raise
    return _finish(proc.returncode, output, workdir)


def interrupt_harness(args: list[str], workdir: Path, when: str, *, sig: int = signal.SIGINT,
                      delay: float = 0, timeout: float = 600, root: Path = REPO_ROOT,
                      env: Optional[dict[str, str]] = None) -> HarnessRun:
    """Start a run; ``delay`` seconds after ``when`` appears in its output, send ``sig`` to pytest alone."""
    proc = subprocess.Popen(harness_command(args, workdir, root), cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(workdir, env, root))
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line)
        if when in line:
            time.sleep(delay)
            proc.send_signal(sig)
            break
        if time.monotonic() > deadline:
            break
    rest, _ = proc.communicate(timeout=timeout)
    return _finish(proc.returncode, "".join(lines) + rest, workdir)


def _finish(returncode: int, output: str, workdir: Path) -> HarnessRun:
    leaks = processes_tagged(str(workdir))
    runs_dir = workdir / "runs"
    leftover_runs = [p.name for p in runs_dir.iterdir()] if runs_dir.is_dir() else []
    leaks += [f"run directory {name}" for name in leftover_runs]
    return HarnessRun(returncode, output, workdir / "reports", runs_dir, leaks)
