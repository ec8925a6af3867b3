"""The NoCloud seed: built from what the API returns, written where cloud-init looks."""
from __future__ import annotations

import base64
import json

import pytest
import yaml

from sandbox_support import USER_DATA, create_api_instance
from harness.errors import HarnessError
from harness.sandbox.cloud_seed import CloudSeed, decode_user_data, seed_from_api


def test_seed_files(tmp_path):
    seed = CloudSeed("i-0abc", "ip-10-0-0-5", b"#!/bin/bash\necho hi\n", ("ssh-ed25519 AAAAC3 key@run",))
    folder = seed.write(tmp_path)
    assert folder == tmp_path / "var/lib/cloud/seed/nocloud"
    assert (folder / "user-data").read_bytes() == b"#!/bin/bash\necho hi\n"
    meta = yaml.safe_load((folder / "meta-data").read_text())
    assert meta == {"instance-id": "i-0abc", "local-hostname": "ip-10-0-0-5",
                    "public-keys": ["ssh-ed25519 AAAAC3 key@run"]}
    assert (folder / "user-data").stat().st_mode & 0o777 == 0o600


def test_decode_user_data():
    assert decode_user_data({"UserData": {"Value": base64.b64encode(b"abc").decode()}}) == b"abc"
    with pytest.raises(HarnessError, match="no user data"):
        decode_user_data({"InstanceId": "i-1", "UserData": {}})
    with pytest.raises(HarnessError, match="base64"):
        decode_user_data({"UserData": {"Value": "not base64!"}})


def test_seed_from_api_reads_back_user_data_and_key(ec2, tmp_path):
    """The seed carries the instance's user data byte for byte and its key pair's public key, from the API."""
    created = create_api_instance(ec2, tmp_path, USER_DATA.read_bytes(), [22])
    seed = seed_from_api(ec2, created.instance_id)
    assert seed.instance_id == created.instance_id
    assert seed.user_data == USER_DATA.read_bytes()
    assert [k.split()[:2] for k in seed.public_keys] == [created.keypair.public_openssh.split()[:2]]


def test_seed_from_api_other_user_data(ec2, tmp_path):
    created = create_api_instance(ec2, tmp_path, b"#!/bin/sh\nexit 0\n", [])
    assert seed_from_api(ec2, created.instance_id).user_data == b"#!/bin/sh\nexit 0\n"


def test_meta_data_is_json_and_yaml():
    seed = CloudSeed("i-1", "h", b"", ("k",))
    assert json.loads(seed.meta_data()) == yaml.safe_load(seed.meta_data())


def test_final_stage_section_skips_late_output_of_other_stages():
    """cloud-init's output log interleaves the network stage's key generation after the final stage."""
    from harness.sandbox.instance import final_stage_section

    log = "\n".join([
        "Cloud-init v. 25.1.4 running 'modules:config' at X. Up 1.0 seconds.",
        "Cloud-init v. 25.1.4 running 'modules:final' at X. Up 1.1 seconds.",
        "provisioning step exploded",
        "cc_scripts_user.py[WARNING]: Failed to run module scripts-user",
        "Cloud-init v. 25.1.4 finished at X. Datasource DataSourceNoCloud.  Up 1.2 seconds",
        "Generating public/private rsa key pair.",
        "+---[RSA 3072]----+",
    ])
    section = final_stage_section(log)
    assert section.splitlines()[0].endswith("Up 1.1 seconds.") and "exploded" in section
    assert section.splitlines()[-1].startswith("Cloud-init v. 25.1.4 finished at")
    assert "RSA" not in section
    assert final_stage_section("a\nb\nc", lines=2) == "b\nc"  # no final stage yet: the tail
