"""A `terraform apply` that runs in the background and says what it has created so far.

The apply's machine-readable output (`terraform apply -json`) has an ``apply_complete``
event for each resource the moment the provider has created it, with its id. The
later stages wait only for the resources they need (the instance, the bucket, the
log group), so booting and configuring the host overlap the rest of the apply. In
the sandbox that rest is the AWS provider's fixed 55 s wait after creating the
bucket's lifecycle configuration; on AWS an instance boots meanwhile as well.

A failed apply fails every wait at once with the apply's own message.
"""
from __future__ import annotations

import json
import subprocess
import threading
from typing import Any, Callable, Optional

import tftest

from harness.errors import HarnessError
from harness.logblock import log


class ApplyFailed(HarnessError):
    """The background apply failed; the message is Terraform's error."""

    stage = "infra"  # the stage whose failure this is, whichever stage was waiting for it


def diagnostics_text(lines: list[str]) -> str:
    """The error diagnostics of ``terraform -json`` output as Terraform prints them ("Error: ...")."""
    texts = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            texts.append(line.rstrip())
            continue
        if event.get("@level") == "error":
            diagnostic = event.get("diagnostic") or {}
            summary = diagnostic.get("summary") or event.get("@message", "")
            where = diagnostic.get("range") or {}
            at = (f"  on {where['filename']} line {where.get('start', {}).get('line', '?')}:\n"
                  if where.get("filename") else "")
            texts.append(f"Error: {summary}\n\n{at}{diagnostic.get('detail', '')}".rstrip())
    return "\n\n".join(text for text in texts if text)


def created_resource(line: str) -> Optional[tuple[str, str]]:
    """``(address, id)`` when ``line`` is the ``apply_complete`` event of a created resource."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if event.get("type") != "apply_complete":
        return None
    hook = event.get("hook") or {}
    if hook.get("action") not in ("create", "replace", "update"):
        return None
    return hook["resource"]["addr"], str(hook.get("id_value", ""))


def stream_apply(tf: tftest.TerraformTest, args: list[str], on_created: Callable[[str, str], None]) -> None:
    """``terraform apply -json ARGS``; ``on_created(address, id)`` per created resource.

    Raises ``tftest.TerraformTestError(message, errors)`` on failure, as tftest does, so that
    :class:`harness.terraform.Terraform`'s retry on transient errors applies unchanged.
    """
    process = subprocess.Popen([tf.binary, "apply", "-json", *args], cwd=tf.tfdir, env=tf.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        created = created_resource(line)
        if created is not None:
            on_created(*created)
    stderr = process.stderr.read() if process.stderr is not None else ""
    if process.wait() != 0:
        errors = diagnostics_text(lines) + ("\n" + stderr if stderr.strip() else "")
        raise tftest.TerraformTestError(f"Error running command apply: {process.returncode}", errors)


class ApplyProgress:
    """What a background apply has created; waits end as soon as a resource exists or the apply ends."""

    def __init__(self) -> None:
        self._created: dict[str, str] = {}
        self._error: Optional[BaseException] = None
        self._done = False
        self._outputs: Any = None  # outputs published before the end (a read-only run's, from the state)
        self._changed = threading.Condition()
        self._thread: Optional[threading.Thread] = None

    def record(self, address: str, resource_id: str) -> None:
        """Called from the apply's output: ``address`` now exists with ``resource_id``."""
        with self._changed:
            self._created[address] = resource_id
            self._changed.notify_all()
        log.info("terraform apply: %s created (%s)", address, resource_id)

    def publish_outputs(self, outputs: Any) -> None:
        """Called by a run that applies nothing (read-only): the outputs are the state's, final before its plan
        ends. A wait for resources ends then too: none will be created."""
        with self._changed:
            self._outputs = outputs
            self._changed.notify_all()

    def wait_outputs(self, timeout: float = 3600) -> Any:
        """The published outputs as soon as they are, else None once the apply ended (its failure raised)."""
        with self._changed:
            ready = self._changed.wait_for(lambda: self._outputs is not None or self._error is not None or self._done,
                                           timeout=timeout)
            if not ready:
                raise HarnessError(f"timed out after {timeout:.0f} s waiting for terraform's outputs")
            if self._outputs is None:
                self._raise_failure()
            return self._outputs

    def start(self, apply: Callable[["ApplyProgress"], None]) -> None:
        """Run ``apply(self)`` in a background thread (it calls :meth:`record` as resources appear)."""
        def run() -> None:
            try:
                apply(self)
            except BaseException as exc:  # handed to the waiting stage, which reports it
                self._error = exc
            finally:
                with self._changed:
                    self._done = True
                    self._changed.notify_all()

        self._thread = threading.Thread(target=run, name="terraform-apply", daemon=True)
        self._thread.start()

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def error(self) -> Optional[BaseException]:
        """Why the apply failed (None: it has not, or not yet)."""
        return self._error

    def _raise_failure(self) -> None:
        if self._error is not None:
            if isinstance(self._error, HarnessError):
                raise ApplyFailed(str(self._error)) from None
            raise self._error

    def wait(self, addresses: tuple[str, ...] = (), timeout: float = 3600) -> dict[str, str]:
        """Wait until each of ``addresses`` is created (none: the whole apply); their ids.

        An address the configuration does not create is waited for until the apply ends.
        The apply's failure is raised at once, as :class:`ApplyFailed`.
        """
        description = (f"terraform apply to create {', '.join(addresses)}" if addresses
                       else "terraform apply to finish")
        with self._changed:
            ready = self._changed.wait_for(
                lambda: (self._error is not None or self._done
                         or bool(addresses) and (self._outputs is not None
                                                 or all(a in self._created for a in addresses))),
                timeout=timeout)
            if not ready:
                raise HarnessError(f"timed out after {timeout:.0f} s waiting for {description}")
            self._raise_failure()
            if not addresses:
                return dict(self._created)
            return {address: self._created[address] for address in addresses if address in self._created}

    def join(self, timeout: float = 600) -> None:
        """Wait for the background thread (after an interrupt: until terraform has written its state)."""
        if self._thread is not None:
            self._thread.join(timeout)


def apply_args(var_file: str | list[str], variables: dict[str, Any]) -> list[str]:
    """The arguments of a non-interactive apply with the run's variables."""
    return tftest.parse_args(input=False, color=False, auto_approve=True, tf_vars=variables, tf_var_file=var_file)
