"""The gRPC pass-through in front of the AWS provider (harness/provider_memo.py), with the real provider."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import grpc
import pytest

from harness.aws import AwsEndpoint
from harness.process import pid_alive
from harness.provider_memo import (STOP_SIGNAL, UNLIMITED, Memo, binary_identity, grpc_target, read_reattach,
                                   start_memo_server)
from harness.provider_server import MEMO_FOLDER, QUIET, provider_binary
from harness.retry import wait_until
from test_replay_recovery import KEY_PAIR_CONFIG, initialised_terraform, moto  # noqa: F401 (moto: a fixture)

SCHEMA = "/tfplugin5.Provider/GetSchema"
PREPARE = "/tfplugin5.Provider/PrepareProviderConfig"


@pytest.fixture
def provider(tmp_path: Path, moto: AwsEndpoint) -> Iterator[tuple[Path, subprocess.Popen, str]]:  # noqa: F811
    """The real AWS provider in debug mode: (its binary, its process, its gRPC target)."""
    terraform, _ = initialised_terraform(tmp_path, KEY_PAIR_CONFIG, moto)
    binary = provider_binary(terraform.workdir)
    process = subprocess.Popen([str(binary), "-debug"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env={**os.environ, **QUIET})
    try:
        value = read_reattach(process.stdout)
        assert value, "the provider printed no address"
        (_, entry), = json.loads(value).items()
        yield binary, process, grpc_target(entry["Addr"])
    finally:
        process.send_signal(STOP_SIGNAL)
        process.wait(timeout=30)


@pytest.mark.timeout(300)
def test_the_memo_answers_a_request_again_from_memory_and_passes_other_requests_on(tmp_path: Path, provider):
    """The schema asked twice: the second answer comes after the provider has ended, byte for byte the first; a
    request the memo has not seen goes to the provider (and so fails once it has ended); the answers are kept in the
    folder for the same binary only."""
    binary, process, target = provider
    folder = tmp_path / "memo"
    server, name = start_memo_server(target, Memo(folder, binary_identity(binary)))
    try:
        with grpc.insecure_channel(f"unix-abstract:{name}", options=UNLIMITED) as channel:
            schema = channel.unary_unary(SCHEMA)
            first = schema(b"", timeout=60)
            assert len(first) > 1_000_000  # every resource's schema
            process.send_signal(STOP_SIGNAL)
            process.wait(timeout=30)
            assert schema(b"", timeout=5) == first
            with pytest.raises(grpc.RpcError):
                channel.unary_unary(PREPARE)(b"\x0a\x00", timeout=10)  # not seen before: to the ended provider
    finally:
        server.stop(0)
    assert len([path for path in folder.iterdir() if not path.name.startswith(".")]) == 1
    assert Memo(folder, binary_identity(binary)).get(SCHEMA, b"") == first  # a later run finds it
    assert Memo(folder, "another provider binary").get(SCHEMA, b"") is None


DYING_MEMO = """
import sys
from pathlib import Path
from harness.provider_memo import serve
sys.exit(serve(Path(sys.argv[1]), None))
"""


@pytest.mark.timeout(300)
@pytest.mark.parametrize("end", ["stdin closed", "SIGKILL", "swept"])
def test_the_provider_ends_with_its_memo_and_leaves_no_socket_file(tmp_path: Path, moto: AwsEndpoint, end: str):  # noqa: F811,E501
    """The memo ends (its input closed, as the harness stops it; SIGKILLed, no moment to clean up; or stopped with
    its provider by the sweep of a killed run, harness/sandbox/cleanup.py): the provider it started ends too, and
    removes the Unix socket it made in the temporary folder."""
    from harness.sandbox.cleanup import stop_processes_of_run

    terraform, _ = initialised_terraform(tmp_path, KEY_PAIR_CONFIG, moto)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    run_folder = tmp_path / "killed-run"  # where a run's Terraform works: the sweep stops what works there
    run_folder.mkdir()
    memo = subprocess.Popen([sys.executable, "-c", DYING_MEMO, str(provider_binary(terraform.workdir))],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=run_folder,
                            env={**os.environ, "TMPDIR": str(temporary),
                                 "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    try:
        value = read_reattach(line.encode() for line in memo.stdout)
        assert value, "the memo printed no address"
        (_, entry), = json.loads(value).items()
        assert entry["Addr"]["String"].startswith("@harness-provider-memo-")
        provider_pid = int(entry["Pid"])
        assert pid_alive(provider_pid)
        assert [path.name[:6] for path in temporary.iterdir()] == ["plugin"]  # the provider's socket, while it runs
    finally:
        if end == "SIGKILL":
            memo.kill()
        elif end == "swept":
            assert stop_processes_of_run("a-killed-run", run_folder) == []
        else:
            memo.stdin.close()
        memo.wait(timeout=30)
    wait_until(f"the provider (pid {provider_pid}) of an ended memo to end", lambda: not pid_alive(provider_pid),
               timeout=15)
    assert list(temporary.iterdir()) == [], "the provider left its socket file behind"


@pytest.mark.timeout(300)
def test_a_working_copys_commands_keep_the_providers_answers_for_its_next_run(tmp_path: Path, moto: AwsEndpoint):  # noqa: F811,E501
    """An apply through the memo keeps the schema and the provider block's validation in the working copy."""
    from harness.keys import generate_keypair

    keypair = generate_keypair(tmp_path / "keys", "provider-memo-test")
    terraform, tfvars = initialised_terraform(tmp_path, KEY_PAIR_CONFIG, moto)
    try:
        terraform.apply(tfvars, {"public_key": keypair.public_openssh})
        kept = sorted(path.stat().st_size for path in (terraform.workdir / MEMO_FOLDER).iterdir())
        assert len(kept) == 2 and kept[-1] > 1_000_000, kept  # the provider block's validation; the schema
        terraform.destroy(tfvars, {"public_key": keypair.public_openssh}, refresh=False)
        assert moto.client("ec2").describe_key_pairs()["KeyPairs"] == []
    finally:
        terraform.close()
