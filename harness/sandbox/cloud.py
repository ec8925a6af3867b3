"""The long-lived sandbox cloud: an emulated AWS account that staging and production live in between runs.

``make cloud-up`` starts it, ``make cloud-down`` stops it with everything in it, ``make -s cloud-env``
prints how the AWS CLI or boto3 reach it. A staging or production run with ``--cloud sandbox``
deploys into it (harness/target_cloud.py). It is one folder (``clouds/sandbox/``, or
``$HARNESS_CLOUD_DIR``) holding:

- ``cloud.json``: the moto server (pid, start time, port) and the instance slots;
- ``keys/``: the operator key, one for the cloud (the key pair staging and production boot with);
- ``signing/``: the key that signs its certificates, and its own ``allowed_signers``;
- ``ca/``: the CA that signs its hosts' TLS certificates (the checks trust it);
- ``backend/<environment>.backend.hcl``: Terraform's S3 backend in the cloud's own S3, with ``use_lockfile``;
- ``instances/<environment>/``: the sandbox instance of that environment (container, namespaces,
  firewall, link services), named ``ic`` + 8 hex digits, never by a run id, so no run's clean-up
  (``make clean``, a dead run's sweep) touches it.

The moto server and the containers are processes of their own sessions: they outlive the pytest
runs that use them. The cloud's Terraform state, backups and certificates live in moto's memory:
they go with ``make cloud-down``, which is what it is for.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from harness.aws import SANDBOX_REGION, AwsEndpoint, MotoServer, endpoint_for, sandbox_credentials
from harness.errors import HarnessError
from harness.keys import KeyPair, generate_keypair
from harness.process import stop_group
from harness.runid import new_cloud_instance_name
from harness.sandbox.network import OPERATOR_NET
from harness.sandbox.state import SandboxState, proc_running, proc_starttime
from harness.spec import REPO_ROOT

log = logging.getLogger("harness.sandbox.cloud")

CLOUD_DIR_ENV = "HARNESS_CLOUD_DIR"
DEFAULT_CLOUD_DIR = REPO_ROOT / "clouds" / "sandbox"
CLOUD_FILE = "cloud.json"
STATE_BUCKET = "inventory-tracker-terraform-state"
ENVIRONMENTS = ("staging", "production")  # the persistent environments that live in it


def cloud_dir(folder: Optional[Path] = None) -> Path:
    """The sandbox cloud's folder: ``folder``, else ``$HARNESS_CLOUD_DIR``, else clouds/sandbox/."""
    return Path(folder or os.environ.get(CLOUD_DIR_ENV) or DEFAULT_CLOUD_DIR).resolve()


@dataclass(frozen=True)
class InstanceSlot:
    """Where one environment's instance lives in the cloud (its container is booted by the first run)."""

    environment: str
    name: str  # "ic" + 8 hex digits: names its namespaces, veths, nft table and container
    operator_address: str  # the operator prober's address (in OPERATOR_NET, inside ssh_allowed_cidrs)
    folder: Path

    def instance_id(self) -> Optional[str]:
        """The EC2 instance id the slot's container was booted for, if any."""
        try:
            return json.loads((self.folder / "slot.json").read_text()).get("instance_id")
        except (OSError, ValueError):
            return None

    def record_instance(self, instance_id: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "slot.json").write_text(json.dumps({"instance_id": instance_id}) + "\n")

    def running(self) -> bool:
        """True when the slot's container runs."""
        state = SandboxState.load(self.folder)
        return state is not None and any(p.role == "nspawn" and p.alive() for p in state.processes)


@dataclass
class SandboxCloud:
    """A running sandbox cloud, as ``cloud.json`` describes it."""

    folder: Path
    moto_pid: int
    moto_starttime: int
    moto_port: int
    created_at: str
    region: str = SANDBOX_REGION
    slots: dict[str, InstanceSlot] = field(default_factory=dict)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def endpoint(self) -> AwsEndpoint:
        """The cloud's AWS API (moto), for boto3 and Terraform."""
        return endpoint_for(self.endpoint_url)

    def alive(self) -> bool:
        """True while the cloud's moto server (with all the cloud's state) runs."""
        return proc_running(self.moto_pid, self.moto_starttime)

    @property
    def operator_key(self) -> KeyPair:
        """The cloud's operator key pair: every staging and production instance in it boots with it."""
        keys = self.folder / "keys"
        return KeyPair(keys / "id_ed25519", (keys / "id_ed25519.pub").read_text().strip())

    @property
    def signing_dir(self) -> Path:
        """Where the cloud's certificate signing key and its allowed_signers file live."""
        return self.folder / "signing"

    @property
    def ca_dir(self) -> Path:
        return self.folder / "ca"

    @property
    def operator_cidr(self) -> str:
        """The operators' range: staging and production in this cloud allow SSH only from it."""
        return str(OPERATOR_NET)

    def backend_file(self, environment: str) -> Path:
        """``<environment>.backend.hcl``: Terraform's state in the cloud's S3, locked with a lock file."""
        path = self.folder / "backend" / f"{environment}.backend.hcl"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = backend_text(environment, self.endpoint_url, self.region)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
        return path

    def slot(self, environment: str) -> InstanceSlot:
        if environment not in self.slots:
            raise HarnessError(f"the sandbox cloud has no {environment} (only {', '.join(self.slots)})")
        return self.slots[environment]

    def save(self) -> None:
        data = asdict(self)
        data["folder"] = str(self.folder)
        data["slots"] = {env: {**asdict(slot), "folder": str(slot.folder)} for env, slot in self.slots.items()}
        tmp = self.folder / (CLOUD_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, self.folder / CLOUD_FILE)


def backend_text(environment: str, endpoint_url: str, region: str) -> str:
    """The S3 backend settings for ``environment``'s state in a sandbox cloud (moto at ``endpoint_url``)."""
    return (
        "# Generated by the sandbox cloud (harness/sandbox/cloud.py): the state lives in the cloud's S3.\n"
        f'bucket = "{STATE_BUCKET}"\n'
        f'key    = "{environment}/terraform.tfstate"\n'
        f'region = "{region}"\n'
        "use_lockfile = true\n"
        "encrypt      = true\n"
        "use_path_style              = true\n"
        "skip_credentials_validation = true\n"
        "skip_requesting_account_id  = true\n"
        "skip_region_validation      = true\n"
        "skip_metadata_api_check     = true\n"
        f'endpoints = {{\n  s3 = "{endpoint_url}"\n}}\n'
    )


def _parse(folder: Path) -> Optional[SandboxCloud]:
    try:
        data = json.loads((folder / CLOUD_FILE).read_text())
    except (OSError, ValueError):
        return None
    slots = {env: InstanceSlot(**{**slot, "folder": Path(slot["folder"])}) for env, slot in data.pop("slots", {}).items()}
    data["folder"] = Path(data["folder"])
    return SandboxCloud(**data, slots=slots)


def load(folder: Optional[Path] = None) -> SandboxCloud:
    """The running sandbox cloud in ``folder``; a HarnessError saying to start it when there is none."""
    folder = cloud_dir(folder)
    cloud = _parse(folder)
    if cloud is None:
        raise HarnessError(f"no sandbox cloud is running (nothing in {folder}): start it with `make cloud-up`, "
                           "or use --cloud aws for a real AWS account")
    if not cloud.alive():
        raise HarnessError(f"the sandbox cloud in {folder} is down (its moto server {cloud.moto_pid} is gone, and "
                           "with it the cloud's state): remove it with `make cloud-down`, then `make cloud-up`")
    return cloud


@dataclass
class _Lock:
    folder: Path

    def __enter__(self) -> "_Lock":
        self.folder.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.folder / ".lock", "w")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def up(folder: Optional[Path] = None) -> tuple[SandboxCloud, bool]:
    """Start the sandbox cloud in ``folder`` (or find it running); returns it and whether it was started now."""
    folder = cloud_dir(folder)
    with _Lock(folder):
        existing = _parse(folder)
        if existing is not None and existing.alive():
            return existing, False
        if existing is not None:
            raise HarnessError(f"a sandbox cloud in {folder} is down but not removed: `make cloud-down` first")
        server = MotoServer.start(folder / "moto.log")
        try:
            cloud = SandboxCloud(folder, server.pid, proc_starttime(server.pid) or 0, server.port,
                                 dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
            for environment in ENVIRONMENTS:
                cloud.slots[environment] = InstanceSlot(environment, new_cloud_instance_name(),
                                                        reserve_operator_address(folder), folder / "instances" / environment)
            cloud.save()
            generate_keypair(folder / "keys", comment="sandbox-cloud-operator")
            from harness.signing import sandbox_signing_key
            from harness.tls import RunCA

            sandbox_signing_key(cloud.signing_dir)
            RunCA.open(cloud.ca_dir, "sandbox-cloud")
            _create_state_bucket(cloud)
            for environment in ENVIRONMENTS:
                cloud.backend_file(environment)
        except BaseException:
            server.stop()
            release_operator_addresses(folder)
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return cloud, True


# The operator addresses in use on this machine, one file per address naming the cloud that holds it: two
# clouds (a person's and a test's) must never share one, or one's host route would replace the other's.
OPERATOR_RESERVATIONS = Path("/run/inventory-tracker-harness/operator-addresses")


def reserve_operator_address(folder: Path) -> str:
    """An address of OPERATOR_NET no other running cloud holds, reserved for the cloud in ``folder``."""
    OPERATOR_RESERVATIONS.mkdir(parents=True, exist_ok=True)
    for address in list(OPERATOR_NET.hosts())[9:]:
        reservation = OPERATOR_RESERVATIONS / str(address)
        try:
            if Path(reservation.read_text().strip()).exists():
                continue  # held by a cloud (this one, or another) that has not been taken down
            reservation.unlink()  # its cloud's folder was removed without `make cloud-down`
        except OSError:
            pass
        try:
            fd = os.open(reservation, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{folder}\n")
        return str(address)
    raise HarnessError(f"every operator address of {OPERATOR_NET} is held by a sandbox cloud: take one down "
                       f"(`make cloud-down`), or remove stale files in {OPERATOR_RESERVATIONS}")


def release_operator_addresses(folder: Path) -> None:
    """Give back the operator addresses the cloud in ``folder`` holds."""
    for reservation in OPERATOR_RESERVATIONS.glob("*") if OPERATOR_RESERVATIONS.is_dir() else []:
        try:
            if reservation.read_text().strip() == str(folder):
                reservation.unlink()
        except OSError:
            continue


def _create_state_bucket(cloud: SandboxCloud) -> None:
    s3 = cloud.endpoint().client("s3")
    s3.create_bucket(Bucket=STATE_BUCKET)
    s3.put_bucket_versioning(Bucket=STATE_BUCKET, VersioningConfiguration={"Status": "Enabled"})


def down(folder: Optional[Path] = None) -> list[str]:
    """Stop the sandbox cloud in ``folder`` and remove everything in it; returns what could not be removed."""
    from harness.sandbox.cleanup import sweep_sandbox_run

    folder = cloud_dir(folder)
    problems: list[str] = []
    with _Lock(folder):
        cloud = _parse(folder)
        if cloud is not None:
            for slot in cloud.slots.values():
                problems += [f"{slot.environment}: {p}" for p in sweep_sandbox_run(slot.name, slot.folder)]
            if cloud.alive():
                stop_group(cloud.moto_pid)
        if problems:
            return problems
        release_operator_addresses(folder)
    shutil.rmtree(folder, ignore_errors=True)
    return problems


def env_lines(cloud: SandboxCloud) -> str:
    """Shell lines with which the AWS CLI and boto3 reach the cloud's emulated account."""
    values = {"AWS_ENDPOINT_URL": cloud.endpoint_url, **sandbox_credentials(),
              "AWS_DEFAULT_REGION": cloud.region, "AWS_REGION": cloud.region}
    return "".join(f"export {name}={value}\n" for name, value in values.items())


def describe(cloud: SandboxCloud) -> Iterator[str]:
    """Lines saying what runs in the cloud."""
    yield f"sandbox cloud in {cloud.folder}: AWS API (moto) at {cloud.endpoint_url}, up since {cloud.created_at}"
    for slot in cloud.slots.values():
        state = "running" if slot.running() else "not booted"
        yield (f"  {slot.environment}: instance {slot.instance_id() or '-'} ({state}, container {slot.name}, "
               f"operator address {slot.operator_address})")


def running_cloud(folder: Optional[Path] = None) -> Optional[SandboxCloud]:
    """The cloud in ``folder`` when one runs, else None (for `make clean` to name it)."""
    cloud = _parse(cloud_dir(folder))
    return cloud if cloud is not None and cloud.alive() else None


@contextlib.contextmanager
def instance_in_slot(cloud: SandboxCloud, environment: str, aws: AwsEndpoint, instance_id: str,
                     key: KeyPair) -> Iterator[Any]:
    """The environment's instance in the cloud: its running container when it was booted for ``instance_id``,
    else a container booted for it now (one of a replaced instance is removed first). It stays after the run."""
    from harness.sandbox.instance import attach, boot_from_api, remove_instance, rules_from_api

    slot = cloud.slot(environment)
    ec2 = aws.client("ec2")
    if slot.running() and slot.instance_id() == instance_id:
        with attach(slot.name, slot.folder, key.private_key_path, instance_id,
                    lambda: rules_from_api(ec2, instance_id), keep=True) as instance:
            yield instance
        return
    previous = SandboxState.load(slot.folder)
    if previous is not None:
        log.info("the %s container %s was booted for instance %s, not %s: replacing it", environment, slot.name,
                 slot.instance_id(), instance_id)
        remove_instance(previous, slot.folder)
    with boot_from_api(slot.name, slot.folder, ec2, instance_id, key.private_key_path, key.public_openssh,
                       keep=True, aws=(aws.endpoint_url, aws.region), operator_address=slot.operator_address) as instance:
        slot.record_instance(instance_id)
        yield instance


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m harness.sandbox.cloud up|down|env|status``."""
    parser = argparse.ArgumentParser(description="the long-lived sandbox cloud (make cloud-up / cloud-down / cloud-env)")
    parser.add_argument("command", choices=("up", "down", "env", "status"))
    parser.add_argument("--dir", type=Path, default=None, help=f"the cloud's folder (default ${CLOUD_DIR_ENV} or clouds/sandbox)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "up":
            cloud, started = up(args.dir)
            print(("started " if started else "already running: ") + next(describe(cloud)))
            print("next: .venv/bin/pytest -m staging --cloud sandbox")
        elif args.command == "down":
            problems = down(args.dir)
            for problem in problems:
                print(f"not removed: {problem}", file=sys.stderr)
            if problems:
                return 1
            print(f"sandbox cloud in {cloud_dir(args.dir)} stopped and removed")
        elif args.command == "env":
            print(env_lines(load(args.dir)), end="")
        else:
            cloud = running_cloud(args.dir)
            print("\n".join(describe(cloud)) if cloud else f"no sandbox cloud runs in {cloud_dir(args.dir)}")
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
