"""`make checkov`: .venv-checkov becomes a link to the machine's one checkov virtualenv (the Makefile)."""
import shutil
import subprocess

from harness.spec import REPO_ROOT


def _make_checkov(folder, shared):
    return subprocess.run(["make", "--no-print-directory", "-s", "checkov", f"CHECKOV_SHARED={shared}"],
                          cwd=folder, capture_output=True, text=True, timeout=60)


def test_a_clone_links_the_shared_venv_in_place_of_its_own(tmp_path):
    """A clone with a venv of its own gets a link to the shared, made venv in its place; nothing is installed."""
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO_ROOT / name, clone / name)
    (clone / ".venv-tools").symlink_to(REPO_ROOT / ".venv-tools")
    # a venv of its own, as a clone set up before the venv was shared has
    (clone / ".venv-checkov" / "bin").mkdir(parents=True)
    shared = tmp_path / "shared" / "checkov"
    (shared / "bin").mkdir(parents=True)
    (shared / ".installed").touch()  # made already: nothing is installed again

    made = _make_checkov(clone, shared)

    assert made.returncode == 0, made.stdout + made.stderr
    assert "making checkov" not in made.stdout, made.stdout
    link = clone / ".venv-checkov"
    assert link.is_symlink() and link.resolve() == shared.resolve()
    # again: the link stays, nothing else happens
    again = _make_checkov(clone, shared)
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr
    assert link.resolve() == shared.resolve()
