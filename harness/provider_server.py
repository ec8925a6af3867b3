"""One AWS provider process for the Terraform commands of a working copy against a stand-in API.

Terraform starts a provider process for each step of each command that uses it (the schema, then a
validate, plan and apply walk: four starts in an apply, three in a destroy), and the AWS provider
spends about 1.3 CPU-s of each start building its schema before it answers anything. Terraform's
documented reattach mode lets every command use one provider process instead: the provider started
with ``-debug`` prints its address, and Terraform given that address in ``TF_REATTACH_PROVIDERS``
talks to it rather than starting its own. The provider and Terraform are the same programs either
way; only the number of start-ups changes.

The harness uses this only for working copies against a stand-in API (the sandbox and the sandbox
cloud, where `make test` runs its many deployments); against AWS Terraform starts its providers
itself. A command that fails ends its provider process (an interrupted apply has told it to stop,
and whatever it holds is not to be trusted): the next command starts a fresh one. The provider runs
under :mod:`harness.provider_memo`, which passes every call on and answers the two that never change
(the schema, the provider block's validation) from memory after the first time; it ends the provider
when the harness's end of a pipe closes, so a harness that dies in any way takes it along. Both work
in the working copy, where `make clean` finds what is left of a run.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

from harness.errors import HarnessError
from harness.process import stop_group
from harness.retry import wait_until

log = logging.getLogger("harness.provider_server")

REATTACH_ENV = "TF_REATTACH_PROVIDERS"
SWITCH_ENV = "HARNESS_TF_REATTACH"  # "off": Terraform starts its providers itself, as against AWS
START_TIMEOUT = 90.0  # seconds for the provider to print its address (about 1.5 s on a quiet machine)
PROVIDER_GLOB = ".terraform/providers/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*"

# Not in the provider's environment. AWS_CA_BUNDLE: the provider configured a second time in one process fails
# with it ("unable to add custom RootCAs HTTPClient, has no WithTransportOptions"), and the stand-in APIs it is
# used for are plain HTTP, where a CA bundle has nothing to do (Terraform.uses_provider_server checks that).
NOT_PASSED = (REATTACH_ENV, "AWS_CA_BUNDLE")

# In debug mode the provider logs at TRACE unless told otherwise: every request and response, formatted (about 9,000
# lines and a fifth of its CPU time in one apply and destroy). Terraform's own provider processes log nothing
# unless TF_LOG asks for it; so does this one.
QUIET = {name: "off" for name in ("TF_LOG", "TF_LOG_PROVIDER", "TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_MUX",
                                  "TF_LOG_SDK_FRAMEWORK", "TF_LOG_SDK_HELPER_SCHEMA", "TF_LOG_PROVIDER_AWS")}

MEMO_FOLDER = ".terraform/provider-memo"  # the memo's answers, kept for later runs on the working copy


def reattach_wanted(env: dict[str, str]) -> bool:
    """False when ``HARNESS_TF_REATTACH=off`` asks Terraform to start its providers itself."""
    return env.get(SWITCH_ENV, os.environ.get(SWITCH_ENV, "on")).lower() not in ("off", "0", "no", "false")


def provider_binary(workdir: Path) -> Path:
    """The AWS provider that ``terraform init`` installed into the working copy."""
    found = sorted(glob.glob(str(workdir / PROVIDER_GLOB)))
    if not found:
        raise HarnessError(f"no AWS provider under {workdir / '.terraform/providers'}; run terraform init there first")
    return Path(found[-1])


def reattach_value(line: str) -> Optional[str]:
    """The ``TF_REATTACH_PROVIDERS`` value in a line the provider prints in debug mode, or None."""
    marker = f"{REATTACH_ENV}='"
    if marker not in line:
        return None
    value = line.split(marker, 1)[1].rsplit("'", 1)[0]
    json.loads(value)  # a truncated line is not an address
    return value


class ProviderServer:
    """The AWS provider running in debug mode for one working copy; :meth:`stop` ends it."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        binary = provider_binary(workdir)
        self._address: list[str] = []
        self._process = subprocess.Popen(
            [sys.executable, "-m", "harness.provider_memo", str(binary), str(workdir / MEMO_FOLDER)], cwd=workdir,
            env={**{k: v for k, v in env.items() if k not in NOT_PASSED}, **QUIET},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        # Read (and keep reading, so that the provider never blocks on a full pipe) what it prints.
        threading.Thread(target=self._read, name="provider server output", daemon=True).start()
        try:
            self.reattach = wait_until(f"the AWS provider ({binary.name} -debug) to print its address",
                                       self._printed_address, timeout=START_TIMEOUT, interval=0.05)
            self.pid = int(json.loads(self.reattach)["registry.terraform.io/hashicorp/aws"]["Pid"])
        except BaseException:
            self.stop()
            raise
        log.info("AWS provider %s serving the working copy %s (pid %d)", binary.parent.parent.name, workdir, self.pid)

    def _read(self) -> None:
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            if not self._address:
                try:
                    value = reattach_value(raw.decode(errors="replace"))
                except ValueError:
                    value = None
                if value:
                    self._address.append(value)

    def _printed_address(self) -> Optional[str]:
        if self._address:
            return self._address[0]
        if self._process.poll() is not None:
            raise HarnessError(f"the AWS provider exited ({self._process.returncode}) before it printed its address; "
                               f"run it by hand with -debug to see why, or set {SWITCH_ENV}=off")
        return None

    def stop(self) -> None:
        """End the provider and its watchdog: the watchdog's stdin closes, it ends the provider and waits for it;
        after 10 s both get SIGTERM, then SIGKILL (their process group)."""
        try:
            if self._process.stdin is not None:
                self._process.stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("the AWS provider's watchdog (pid %d) did not end it within 10 s: stopping both",
                        self._process.pid)
            stop_group(self._process.pid, timeout=5)
