"""pytest binding to the flake's checks (marker ``nixos``): one item per ``checks.<system>.<name>``.

Active only when the ``-m`` expression selects ``nixos`` items (e.g. ``pytest -m
nixos``); otherwise it adds nothing and runs no ``nix``. Each item builds its check
with ``nix build .#checks.<system>.<name> -L`` as a subprocess (harness.nix) and
passes or fails with the build; a failure shows the tail of the build log.

Instead of a traceback, the run ends with a single item that
* is skipped when ``nix`` is not installed (reason: how to install it),
* fails when the flake does not evaluate, saying whether its inputs cannot be
  fetched here (no network: run on a machine with Nix and network) or the
  flake itself is broken.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from harness.errors import HarnessError
from harness.nix import FlakeEvalError, NixSettings, build_check, current_system, flake_checks, nix_available
from harness.spec import REPO_ROOT

MARKER = "nixos"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nixos", "NixOS checks of the flake (-m nixos)")
    group.addoption("--flake", dest="nixos_flake", default=str(REPO_ROOT), metavar="DIR",
                    help="directory of the flake whose checks -m nixos builds (default: the repository root)")
    group.addoption("--nix-system", dest="nixos_system", default=None, metavar="SYSTEM",
                    help="system of the checks to build (default: this machine's, e.g. x86_64-linux)")
    group.addoption("--nix-local", dest="nixos_local", action="store_true",
                    help="no binary cache and no build sandbox (flakes that need no nixpkgs, e.g. test fixtures)")
    group.addoption("--nix-build-timeout", dest="nixos_build_timeout", type=float, default=3 * 3600.0,
                    metavar="SECONDS", help="time limit of one check's build (default: 3 h)")


def nixos_selected(markexpr: str) -> bool:
    """True when the ``-m`` expression selects an item whose only marker is ``nixos``."""
    if not markexpr:
        return False
    try:
        from _pytest.mark.expression import Expression

        return Expression.compile(markexpr).evaluate(lambda name, /, **kwargs: name == MARKER and not kwargs)
    except Exception:  # noqa: BLE001 - private API changed or odd expression: fall back to a word test
        words = markexpr.replace("(", " ").replace(")", " ").split()
        return MARKER in words and f"not {MARKER}" not in " ".join(words)


def _settings(config: pytest.Config) -> NixSettings:
    return NixSettings(local=bool(config.option.nixos_local), build_timeout=float(config.option.nixos_build_timeout))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add the flake's checks to the run when -m selects ``nixos`` (before -m deselects)."""
    if not nixos_selected(config.option.markexpr):
        return
    flake_dir = Path(config.option.nixos_flake)
    if not flake_dir.is_absolute():
        flake_dir = (config.invocation_params.dir / flake_dir).resolve()
    collector = FlakeChecks.from_parent(session, path=flake_dir / "flake.nix")
    items.extend(session.genitems(collector))


class FlakeChecks(pytest.File):
    """The checks of one flake (``flake.nix``): evaluated with ``nix eval --json``."""

    def collect(self) -> Iterator[pytest.Item]:
        config = self.config
        system = config.option.nixos_system or current_system()
        settings = _settings(config)
        flake_dir = self.path.parent
        unavailable = nix_available()
        if unavailable is not None:
            yield NixProblem.from_parent(self, name="nix", outcome="skip", message=unavailable)
            return
        try:
            by_system = flake_checks(flake_dir, settings=settings)
        except FlakeEvalError as exc:
            name = "inputs" if exc.fetch_failed else "evaluation"
            yield NixProblem.from_parent(self, name=name, outcome="fail", message=str(exc))
            return
        except HarnessError as exc:
            yield NixProblem.from_parent(self, name="evaluation", outcome="fail", message=str(exc))
            return
        names = by_system.get(system, [])
        if not names:
            others = ", ".join(f"{s} ({len(n)})" for s, n in sorted(by_system.items())) or "none"
            yield NixProblem.from_parent(
                self, name="checks", outcome="fail",
                message=f"the flake in {flake_dir} has no checks for {system}; systems with checks: {others}")
            return
        for name in names:
            yield NixCheck.from_parent(self, name=f"checks.{system}.{name}", system=system, check=name,
                                       settings=settings)


class NixCheckFailed(AssertionError):
    """A check's build failed: the deployment's configuration is wrong (message carries the log tail)."""


class NixCheck(pytest.Item):
    """One ``checks.<system>.<name>``: passes when ``nix build`` of it succeeds."""

    def __init__(self, *, system: str, check: str, settings: NixSettings, **kwargs: Any):
        super().__init__(**kwargs)
        self.system = system
        self.check = check
        self.settings = settings
        self.add_marker(MARKER)

    def runtest(self) -> None:
        flake_dir = self.path.parent
        ok, tail = build_check(flake_dir, self.system, self.check, settings=self.settings)
        self.user_properties.append(("nix_attribute", f"checks.{self.system}.{self.check}"))
        if not ok:
            raise NixCheckFailed(
                f"nix build .#checks.{self.system}.{self.check} failed (flake: {flake_dir}); "
                f"last lines of its log:\n{tail}"
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Optional[str] = None) -> str:
        if isinstance(excinfo.value, (NixCheckFailed, HarnessError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, Optional[int], str]:
        return self.path, None, f"nix build .#checks.{self.system}.{self.check}"


class NixProblemError(Exception):
    """Why the flake's checks could not be collected (the message is the whole report)."""


class NixProblem(pytest.Item):
    """Stands for the flake's checks when they cannot be run: one skip or one failure with a message."""

    def __init__(self, *, outcome: str, message: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.outcome = outcome
        self.message = message
        self.add_marker(MARKER)

    def runtest(self) -> None:
        if self.outcome == "skip":
            pytest.skip(self.message)
        raise NixProblemError(self.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Optional[str] = None) -> str:
        if isinstance(excinfo.value, NixProblemError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, Optional[int], str]:
        return self.path, None, f"flake checks ({self.name})"
