"""The sandbox instance: boot the container for an EC2 instance and wait until it is usable.

:func:`sandbox_instance` is a context manager that owns every resource it makes
(network namespaces, veths, nft table, rootfs copy, systemd-nspawn) and removes
them on exit, also when the boot fails or is interrupted. :func:`boot_from_api`
reads the inputs of the boot back from the AWS API.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from harness.errors import HarnessError
from harness.instance import wait_login, wait_running
from harness.logblock import block
from harness.probe import InternetProber
from harness.retry import wait_until
from harness.sandbox import container, firewall, link_services, network
from harness.sandbox.cleanup import cleanup_state
from harness.sandbox.cloud_seed import CloudSeed, seed_from_api
from harness.sandbox.image import ImageOptions, ensure_image
from harness.sandbox.state import SandboxState
from harness.spec import load_spec

log = logging.getLogger("harness.sandbox.instance")

DEPLOY_USER = "deploy"
CLOUD_INIT_OUTPUT = "var/log/cloud-init-output.log"
CLOUD_INIT_RESULT = "var/lib/cloud/data/result.json"


@dataclass(frozen=True)
class BootTimeouts:
    ssh: float = 60  # from systemd-nspawn start until sshd answers
    cloud_init: float = 300  # until cloud-init's final stage (the user data) has finished
    login: float = 30  # until the deploy user can log in
    stop: float = 20  # SIGTERM to systemd-nspawn until SIGKILL


@dataclass
class SandboxInstance:
    """The booted sandbox instance, as the stages and suites see it."""

    instance_id: str
    address: str  # where this machine reaches SSH (the container's address)
    ssh_user: str
    key_path: Path
    internet: InternetProber  # probes from the run's "internet" namespace, through the firewall
    plan: network.AddressPlan
    rootfs: Path  # the container's root as seen from the host (read-only use)
    console_log: Path
    rules: list[firewall.IngressRule] = field(default_factory=list)
    s3_endpoint: str | None = None  # the S3 endpoint on the instance's link (None: the instance has none)
    _rules_source: Callable[[], list[firewall.IngressRule]] | None = None

    @property
    def operator(self) -> InternetProber | None:
        """Probes from an operator's address inside ssh_allowed_cidrs (sandbox cloud instances only)."""
        if not self.plan.operator:
            return None
        return InternetProber(self.plan.instance, self.plan.internet_netns, self.plan.operator, name="an operator")

    @property
    def host_side_address(self) -> str:
        """The host's address on the instance link: sandbox services for the instance listen here."""
        return self.plan.host_side

    def refresh_firewall(self) -> list[firewall.IngressRule]:
        """Read the security groups again and replace the edge firewall (after a rule changed)."""
        if self._rules_source is None:
            raise HarnessError("this sandbox instance has no source of security-group rules")
        self.rules = self._rules_source()
        apply_firewall(self.plan, self.rules)
        return self.rules

    def cloud_init_output_tail(self, lines: int = 40) -> str:
        """The last lines of cloud-init's output log (the user data's output goes there)."""
        return _tail_file(self.rootfs / CLOUD_INIT_OUTPUT, lines)

    def cloud_init_final_output(self, lines: int = 40) -> str:
        """The final stage's part of cloud-init's output log (user data output and its failure), else its tail."""
        try:
            text = (self.rootfs / CLOUD_INIT_OUTPUT).read_text(errors="replace")
        except OSError as exc:
            return f"({CLOUD_INIT_OUTPUT} not readable: {exc})"
        return final_stage_section(text, lines)


def final_stage_section(log_text: str, lines: int = 40) -> str:
    """From cloud-init's output log: the last lines of its final stage (other stages' output interleaves late)."""
    all_lines = log_text.splitlines()
    starts = [i for i, line in enumerate(all_lines) if "running 'modules:final'" in line]
    if not starts:
        return "\n".join(all_lines[-lines:])
    section = all_lines[starts[-1]:]
    ends = [i for i, line in enumerate(section) if line.startswith("Cloud-init v.") and " finished at " in line]
    if ends:
        section = section[: ends[0] + 1]
    return "\n".join(section[-lines:])


def apply_firewall(plan: network.AddressPlan, rules: list[firewall.IngressRule]) -> None:
    """Load the run's nft table for ``rules`` (atomic replace)."""
    metadata = (network.METADATA_ADDRESS, plan.host_side, link_services.LINK_IMDS_PORT)
    firewall.apply(firewall.nft_script(plan.run_id, plan.instance_veth,
                                       [plan.instance_veth, plan.internet_veth], rules, metadata))


def _tail_file(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"({path.name} not readable: {exc})"


def _ssh_banner(address: str) -> bool:
    with socket.create_connection((address, 22), timeout=1) as sock:
        sock.settimeout(2)
        return sock.recv(64).startswith(b"SSH-")


def cloud_init_result(rootfs: Path) -> dict[str, Any] | None:
    """cloud-init's result.json (written when its final stage is done), or None before that."""
    try:
        return json.loads((rootfs / CLOUD_INIT_RESULT).read_text()).get("v1", {})
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def sandbox_instance(
    run_id: str,
    run_dir: Path,
    seed: CloudSeed,
    rules_source: Callable[[], list[firewall.IngressRule]],
    key_path: Path,
    *,
    image_options: ImageOptions | None = None,
    timeouts: BootTimeouts = BootTimeouts(),
    keep: bool = False,
    aws: tuple[str, str] | None = None,
    operator_address: str = "",
) -> Iterator[SandboxInstance]:
    """Boot the container for ``seed`` behind the firewall of ``rules_source()``; remove it all on exit.

    With ``keep`` the container stays after a normal exit (``--keep``); a failed or
    interrupted boot is always removed. ``aws`` (endpoint URL, region) of the run's
    AWS API gives the instance its link services: metadata (instance profile
    credentials) and an S3 endpoint. ``operator_address`` (sandbox cloud) adds an operator prober.
    """
    state = SandboxState.for_this_process(run_id)
    state.save(run_dir)
    remove = True
    try:
        instance = _boot(state, run_dir, seed, rules_source, key_path, image_options, timeouts, aws, operator_address)
        yield instance
        remove = not keep  # kept only after a successful boot and a normal end
    finally:
        if remove:
            remove_instance(state, run_dir, timeouts.stop)


def remove_instance(state: SandboxState, run_dir: Path, stop_timeout: float = 20) -> None:
    """Stop the container and remove all it had; HarnessError when something stayed behind."""
    with block(f"removing sandbox instance {state.run_id}", record="instance-remove", kind="teardown"):
        problems = cleanup_state(state, run_dir, stop_timeout=stop_timeout)
    if problems:
        raise HarnessError(f"the sandbox instance {state.run_id} was not removed completely: "
                           f"{'; '.join(problems)}; run `make clean`")


@contextlib.contextmanager
def attach(run_id: str, run_dir: Path, key_path: Path, instance_id: str,
           rules_source: Callable[[], list[firewall.IngressRule]] | None = None,
           *, keep: bool = True) -> Iterator[SandboxInstance]:
    """Use the container that an earlier run kept (``--reuse``); it stays (or is removed with ``keep=False``)."""
    state = SandboxState.load(run_dir)
    if state is None or not any(p.role == "nspawn" and p.alive() for p in state.processes):
        raise HarnessError(f"the kept sandbox instance of run {run_id} is not running; "
                           f"`make clean RUN={run_id}` and start a new run without --reuse")
    previous_owner = state.owner
    state.owner = SandboxState.for_this_process(run_id).owner  # the sweep leaves it alone while in use
    state.save(run_dir)
    plan = network.AddressPlan(**state.network)
    rootfs = Path(state.paths[0]) / "rootfs"
    instance = SandboxInstance(
        instance_id=instance_id, address=plan.instance, ssh_user=DEPLOY_USER, key_path=key_path,
        internet=InternetProber(plan.instance, plan.internet_netns, plan.internet), plan=plan, rootfs=rootfs,
        console_log=run_dir / "instance-console.log", _rules_source=rules_source,
        s3_endpoint=link_services.s3_endpoint_url(plan.host_side)
        if any(p.role == "link" and p.alive() for p in state.processes) else None,
    )
    remove = not keep
    try:
        if plan.operator:
            network.add_operator_address(plan, plan.operator)
        if rules_source is not None:
            instance.refresh_firewall()
        yield instance
    finally:
        if remove:
            remove_instance(state, run_dir)
        else:
            state.owner = previous_owner
            state.save(run_dir)


def _boot(state: SandboxState, run_dir: Path, seed: CloudSeed, rules_source: Callable[[], list[firewall.IngressRule]],
          key_path: Path, image_options: ImageOptions | None, timeouts: BootTimeouts,
          aws: tuple[str, str] | None = None, operator_address: str = "") -> SandboxInstance:
    image = ensure_image(image_options)
    run_id = state.run_id
    plan = dataclasses.replace(network.plan_for_run(run_id, run_dir), operator=operator_address)
    state.network = plan.to_dict()
    with block("sandbox network and firewall"):
        network.enable_forwarding()
        state.add(run_dir, "netns", plan.instance_netns)
        state.add(run_dir, "veths", plan.instance_veth)
        network.create_instance_link(plan)
        state.add(run_dir, "netns", plan.internet_netns)
        state.add(run_dir, "veths", plan.internet_veth)
        network.create_internet(plan)
        if plan.operator:
            network.add_operator_address(plan, plan.operator)
        rules = rules_source()
        state.add(run_dir, "nft_tables", run_id)
        apply_firewall(plan, rules)
    s3_endpoint = None
    if aws is not None:
        with block("sandbox link services (instance metadata, S3 endpoint)"):
            link = link_services.start(run_id, plan.host_side, aws[0], aws[1], seed.instance_id,
                                       seed.public_keys[0] if seed.public_keys else "", run_dir / "link-services.log")
            link_record = container.record("link", link.pid)
            if link_record is not None:
                state.processes.append(link_record)
                state.save(run_dir)
            s3_endpoint = link_services.s3_endpoint_url(plan.host_side)
    with block("sandbox rootfs copy and cloud-init seed"):
        folder = run_dir / "instance"
        state.add(run_dir, "paths", str(folder))
        copy = container.make_rootfs_copy(image.rootfs, folder, memory_gb=load_spec()["instance"]["root_volume_gb"])
        seed.write(copy.rootfs)
        networkd = copy.rootfs / "etc/systemd/network/10-host0.network"
        networkd.parent.mkdir(parents=True, exist_ok=True)
        networkd.write_text(network.networkd_file(plan))
    console_log = run_dir / "instance-console.log"
    process = container.start(copy.rootfs, run_id, plan.instance_netns, console_log)
    record = container.record("nspawn", process.pid)
    if record is not None:
        state.processes.append(record)
        state.save(run_dir)
    instance = SandboxInstance(
        instance_id=seed.instance_id, address=plan.instance, ssh_user=DEPLOY_USER, key_path=key_path,
        internet=InternetProber(plan.instance, plan.internet_netns, plan.internet), plan=plan, rootfs=copy.rootfs,
        console_log=console_log, rules=rules, s3_endpoint=s3_endpoint, _rules_source=rules_source,
    )

    def exited() -> None:
        if process.poll() is not None:
            raise HarnessError(f"systemd-nspawn exited with status {process.returncode} during boot\n"
                               f"--- console (tail) ---\n{_tail_file(console_log, 30)}")

    def container_init() -> int | None:
        exited()
        return container.container_init(process.pid)

    init = wait_until("the container's init process", container_init, timeout=10, interval=0.05)
    init_record = container.record("init", init)
    if init_record is not None:
        state.processes.append(init_record)
        state.save(run_dir)

    def ssh_answers() -> bool:
        exited()
        return _ssh_banner(plan.instance)

    wait_until(f"SSH to answer on {plan.instance}:22", ssh_answers, timeout=timeouts.ssh, interval=0.1,
               explain=lambda: "--- console (tail) ---\n" + _tail_file(console_log, 30))

    def cloud_init_done() -> dict[str, Any] | None:
        exited()
        return cloud_init_result(copy.rootfs)

    result = wait_until("cloud-init to finish (user data run)", cloud_init_done, timeout=timeouts.cloud_init,
                        interval=0.1, explain=lambda: "--- cloud-init output (tail) ---\n"
                        + instance.cloud_init_output_tail())
    errors = result.get("errors") or []
    if errors:
        # cloud-init's output log is written through a pipe: let it catch up with the final stage.
        with contextlib.suppress(HarnessError):
            wait_until("cloud-init's output log to show the final stage's end",
                       lambda: " finished at " in instance.cloud_init_final_output(), timeout=10, interval=0.1)
        raise HarnessError(
            f"cloud-init reported errors on instance {seed.instance_id}: {errors}"
            + ("; the instance's user data failed (terraform/user_data.sh)" if "scripts-user" in str(errors) else "")
            + f"\n--- /{CLOUD_INIT_OUTPUT}, final stage (tail) ---\n{instance.cloud_init_final_output()}"
        )

    wait_login(plan.instance, DEPLOY_USER, key_path, timeout=timeouts.login, interval=0.2)
    return instance


def rules_from_api(ec2: Any, instance_id: str) -> list[firewall.IngressRule]:
    """The ingress rules of the security groups the instance has, read back from the API."""
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    group_ids = [g["GroupId"] for g in reservations[0]["Instances"][0].get("SecurityGroups", [])]
    if not group_ids:
        raise HarnessError(f"instance {instance_id} has no security groups in the API; terraform must attach one")
    groups = ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
    return firewall.rules_from_security_groups(groups)


@contextlib.contextmanager
def boot_from_api(run_id: str, run_dir: Path, ec2: Any, instance_id: str, key_path: Path,
                  run_public_key: str | None = None, *, image_options: ImageOptions | None = None,
                  timeouts: BootTimeouts = BootTimeouts(), running_timeout: float = 120,
                  keep: bool = False, aws: tuple[str, str] | None = None,
                  operator_address: str = "") -> Iterator[SandboxInstance]:
    """Boot the sandbox container for the EC2 instance ``instance_id`` from what the API says about it.

    ``aws`` (endpoint URL, region of the run's AWS API) gives the instance metadata and S3 on its link.
    """
    wait_running(ec2, instance_id, timeout=running_timeout)
    seed = seed_from_api(ec2, instance_id, fallback_public_key=run_public_key)
    with sandbox_instance(run_id, run_dir, seed, lambda: rules_from_api(ec2, instance_id), key_path,
                          image_options=image_options, timeouts=timeouts, keep=keep, aws=aws,
                          operator_address=operator_address) as instance:
        yield instance
