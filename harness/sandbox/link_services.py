"""What the sandbox instance's link offers it, as EC2's network does: metadata and an S3 endpoint.

One process per sandbox instance (``python -m harness.sandbox.link_services``),
listening on the host's end of the instance link only:

* the metadata service (``harness.sandbox.imds``, a stand-in for EC2's IMDS) on
  ``LINK_IMDS_PORT``; the firewall's NAT sends the instance's 169.254.169.254:80 there;
* the S3 endpoint (``harness.sandbox.tcp_forward``) on ``LINK_S3_PORT``, forwarding
  to the run's AWS API, like a VPC gateway endpoint.

It runs in its own session so that a kept run (``--keep``) keeps it; it is recorded
in the sandbox state (role ``link``) and stopped with the instance.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import HarnessError
from harness.retry import wait_until

LINK_IMDS_PORT = 8169
LINK_S3_PORT = 9000


def s3_endpoint_url(host_side: str) -> str:
    """The S3 endpoint URL the instance uses in the sandbox."""
    return f"http://{host_side}:{LINK_S3_PORT}"


def start(run_id: str, host_side: str, aws_endpoint_url: str, region: str, instance_id: str, public_key: str,
          log_path: Path) -> subprocess.Popen:
    """Start the link services for one instance and wait until both ports answer."""
    key_file = log_path.parent / "instance-public-key"
    key_file.write_text(public_key.strip() + "\n")
    command = [sys.executable, "-m", "harness.sandbox.link_services", "--run-id", run_id, "--bind", host_side,
               "--aws-endpoint", aws_endpoint_url, "--region", region, "--instance-id", instance_id,
               "--public-key-file", str(key_file)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)

    def listening() -> bool:
        if process.poll() is not None:
            raise HarnessError(f"the sandbox link services exited with {process.returncode}: "
                               f"{log_path.read_text(errors='replace')[-1500:]}")
        import socket

        for port in (LINK_IMDS_PORT, LINK_S3_PORT):
            with socket.create_connection((host_side, port), timeout=1):
                pass
        return True

    wait_until(f"the instance link's metadata and S3 endpoint on {host_side}", listening, timeout=15, interval=0.1)
    return process


def _clients(endpoint_url: str, region: str):  # type: ignore[no-untyped-def]
    from harness.aws import sandbox_session

    session = sandbox_session(region)
    made: dict[str, object] = {}
    lock = threading.Lock()

    def client(name: str):  # type: ignore[no-untyped-def]
        with lock:
            if name not in made:
                made[name] = session.client(name, endpoint_url=endpoint_url, region_name=region)
            return made[name]

    return client


def main(argv: list[str] | None = None) -> int:
    from harness.sandbox.imds import InstanceIdentity, metadata_server
    from harness.sandbox.tcp_forward import serve_forwarder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-id", required=True)  # names the process for the sweep
    parser.add_argument("--bind", required=True)
    parser.add_argument("--aws-endpoint", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--public-key-file", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    identity = InstanceIdentity(args.instance_id, args.region, Path(args.public_key_file).read_text().strip(),
                                _clients(args.aws_endpoint, args.region))
    server = metadata_server(identity, args.bind, LINK_IMDS_PORT)
    threading.Thread(target=server.serve_forever, name="imds", daemon=True).start()
    upstream = urlsplit(args.aws_endpoint)
    port = upstream.port or (443 if upstream.scheme == "https" else 80)

    async def forward() -> None:
        forwarder = await serve_forwarder((args.bind, LINK_S3_PORT), (upstream.hostname or "127.0.0.1", port))
        async with forwarder:
            await forwarder.serve_forever()

    logging.getLogger("harness.sandbox.link_services").info(
        "serving metadata on %s:%s and S3 on %s:%s for %s (pid %s)", args.bind, LINK_IMDS_PORT, args.bind,
        LINK_S3_PORT, args.instance_id, os.getpid())
    asyncio.run(forward())
    return 0


if __name__ == "__main__":
    sys.exit(main())
