"""The secret canary: a sandbox certification with canary secrets fails on purpose, and nothing it wrote holds one.

One harness run (a full sandbox certification, as a user runs it, with ``-l`` so that
failures show their local variables) gets a distinctive value for every secret the
harness makes (harness/secrets.py ``canary_value``: the database password,
SECRET_KEY_BASE, the emulator's AWS secret key, the run's SSH private key), plus
the checks of tests/canary/canary_checks.py that fail with those secrets at hand.
Then everything the run wrote is scanned for the canaries (tests/canary_scan.py):
its terminal output, its live log, reports/, and the run folder as it was at the
end (copied by tests/canary/canary_plugin.py). Terraform's state and the run's
private key file hold secrets by design: they are not scanned, they must be 0600.
"""
from __future__ import annotations

import base64
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from canary_scan import Hit, files_under, needles, new_canaries, scan_files, write_canaries
from harness.secrets import AWS_SECRET_ACCESS_KEY, CANARY_FILE_ENV, DATABASE_PASSWORD, SECRET_KEY_BASE
from harness.spec import REPO_ROOT
from harness_run import HarnessRun, run_harness
from sandbox_support import requires_root

pytestmark = pytest.mark.timeout(900)
CANARY_DIR = Path(__file__).resolve().parent.parent / "canary"
FAILING_ON_PURPOSE = {
    "test_canary_assert_on_the_database_password",
    "test_canary_assert_on_the_env_file",
    "test_canary_harness_error_while_the_secrets_file_is_written",
    "test_canary_failing_remote_command_shows_the_env_file",
    "test_canary_failed_command_in_an_assertion",
}
OUTPUT, LIVE_LOG, REPORTS, RUN_FOLDER = "output.txt", "live.log", "reports", "run-folder"


def holds_secrets_by_design(path: Path) -> bool:
    """Terraform's state files and the run's SSH private key: not scanned (they must be 0600)."""
    return re.fullmatch(r"terraform\.tfstate.*", path.name) is not None or path.name == "id_ed25519"


def scan_run(evidence: Path, canaries: dict[str, str]) -> list[Hit]:
    """Every canary in what a run wrote, as kept under ``evidence``: output, live log, reports/, run folder."""
    paths = [evidence / OUTPUT, evidence / LIVE_LOG, *files_under(evidence / REPORTS),
             *files_under(evidence / RUN_FOLDER, skip=holds_secrets_by_design)]
    return scan_files(paths, needles(canaries), evidence)


@dataclass
class CanaryRun:
    result: HarnessRun
    canaries: dict[str, str]
    evidence: Path  # output.txt, live.log, reports/, run-folder/


@pytest.fixture(scope="module")
def canary_run(tmp_path_factory: pytest.TempPathFactory) -> CanaryRun:
    """The one sandbox certification with canary secrets and the checks that fail on purpose."""
    requires_root()
    workdir = tmp_path_factory.mktemp("canary")
    canaries = new_canaries()
    env = {
        CANARY_FILE_ENV: str(write_canaries(canaries, workdir / "canaries.json")),
        "HARNESS_CANARY_SNAPSHOT": str(workdir / RUN_FOLDER),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(CANARY_DIR), os.environ.get("PYTHONPATH")])),
    }
    args = ["-p", "canary_plugin", "-l", f"--log-file={workdir / LIVE_LOG}",
            str(REPO_ROOT / "suites"), str(CANARY_DIR / "canary_checks.py")]
    result = run_harness(args, workdir, env=env)
    (workdir / OUTPUT).write_text(result.output)
    (workdir / "canaries.json").unlink()
    return CanaryRun(result, canaries, workdir)


def test_the_canary_run_fails_where_it_was_made_to(canary_run: CanaryRun) -> None:
    """Exactly the checks made to fail fail; the certification's own checks pass; nothing is left behind."""
    result = canary_run.result
    assert result.returncode == 1, result.output[-4000:]
    assert result.failed() == FAILING_ON_PURPOSE, result.output[-4000:]
    assert result.outcomes()["test_canary_secrets_are_in_use"][0] == "passed", "the run's secrets are the canaries"
    assert len(result.outcomes()) > len(FAILING_ON_PURPOSE) + 30, "the whole certification ran"
    assert result.certificate() is None, "a failed run leaves no certificate"
    assert result.leaks == []
    assert (canary_run.evidence / RUN_FOLDER / "run.json").exists(), "the run folder was copied at its end"


def test_no_canary_in_anything_the_run_wrote(canary_run: CanaryRun) -> None:
    """No canary, in any encoding, in the output, the live log, reports/ or the run folder's files."""
    hits = scan_run(canary_run.evidence, canary_run.canaries)
    assert not hits, "secrets leaked (file:line, which secret, how encoded):\n" + "\n".join(map(str, hits))


def test_state_and_private_key_are_mode_0600(canary_run: CanaryRun) -> None:
    """What holds secrets by design is readable by its owner only."""
    holders = [path for path in files_under(canary_run.evidence / RUN_FOLDER) if holds_secrets_by_design(path)]
    assert any(path.name == "terraform.tfstate" for path in holders), "no Terraform state in the run folder"
    assert any(path.name == "id_ed25519" for path in holders), "no private key in the run folder"
    loose = [f"{path.relative_to(canary_run.evidence)} is {path.stat().st_mode & 0o777:o}"
             for path in holders if path.stat().st_mode & 0o077]
    assert not loose, "files holding secrets must be mode 0600: " + "; ".join(loose)


def test_the_scan_catches_a_deliberate_leak(canary_run: CanaryRun, tmp_path: Path) -> None:
    """The same scan over a copy of the run's evidence with three canaries written into it names those files."""
    evidence = tmp_path / "evidence"
    shutil.copytree(canary_run.evidence, evidence, symlinks=True)
    canaries = canary_run.canaries
    with open(evidence / REPORTS / "junit.xml", "a") as junit:
        junit.write(f"<!-- {canaries[DATABASE_PASSWORD]} -->\n")
    with open(evidence / LIVE_LOG, "a") as log:
        log.write(f"DATABASE_URL=postgresql://app:{quote(canaries[DATABASE_PASSWORD], safe='')}@h/db\n")
    with open(evidence / RUN_FOLDER / "moto.log", "ab") as moto:
        moto.write(b"leaked " + base64.b64encode(b"SECRET_KEY_BASE=" + canaries[SECRET_KEY_BASE].encode()) + b"\n")
        moto.write(b"and " + canaries[AWS_SECRET_ACCESS_KEY].encode().hex().encode() + b"\n")
    hits = sorted(set(scan_run(evidence, canaries)) - set(scan_run(canary_run.evidence, canaries)), key=str)
    named = {(hit.where, hit.name, hit.encoding) for hit in hits}
    assert named == {
        (f"{REPORTS}/junit.xml", DATABASE_PASSWORD, "raw"),
        (LIVE_LOG, DATABASE_PASSWORD, "url"),
        (f"{RUN_FOLDER}/moto.log", SECRET_KEY_BASE, "base64"),
        (f"{RUN_FOLDER}/moto.log", AWS_SECRET_ACCESS_KEY, "hex"),
    }, "\n".join(map(str, hits))
    report = "\n".join(map(str, hits))
    assert all(value not in report for value in canaries.values()), "a hit must never show the value"
