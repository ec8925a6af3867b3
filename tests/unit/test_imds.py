"""The sandbox's instance metadata service (a stand-in for EC2's IMDSv2) against a real moto API."""
from __future__ import annotations

import itertools
import threading

import pytest
import requests

from harness.sandbox.imds import InstanceIdentity, metadata_server

TOKEN = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
NUMBERS = itertools.count(1)


@pytest.fixture(scope="module")
def api(moto_api):
    return moto_api  # tests/unit/conftest.py: a moto server of this module's own


@pytest.fixture()
def instance(api):
    """An instance with an instance profile whose role is ``backups-role``."""
    iam, ec2 = api.client("iam"), api.client("ec2")
    suffix = next(NUMBERS)
    role = iam.create_role(RoleName=f"backups-role-{suffix}", AssumeRolePolicyDocument="{}")["Role"]
    profile = iam.create_instance_profile(InstanceProfileName=f"profile-{suffix}")["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=role["RoleName"])
    image = ec2.describe_images()["Images"][0]["ImageId"]
    reservation = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                    IamInstanceProfile={"Name": profile["InstanceProfileName"]})
    return reservation["Instances"][0]["InstanceId"], role["RoleName"]


@pytest.fixture()
def imds(api, instance):
    identity = InstanceIdentity(instance[0], api.region, "ssh-ed25519 AAAA test", api.client)
    server = metadata_server(identity, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _token(base: str) -> dict[str, str]:
    return {"X-aws-ec2-metadata-token": requests.put(f"{base}/latest/api/token", headers=TOKEN, timeout=5).text}


def test_tokens_are_required(imds):
    assert requests.get(f"{imds}/latest/meta-data/instance-id", timeout=5).status_code == 401
    assert requests.put(f"{imds}/latest/api/token", timeout=5).status_code == 400


def test_identity_and_the_instance_role_credentials(imds, instance):
    headers = _token(imds)
    assert requests.get(f"{imds}/latest/meta-data/instance-id", headers=headers, timeout=5).text == instance[0]
    role = requests.get(f"{imds}/latest/meta-data/iam/security-credentials/", headers=headers, timeout=5).text
    assert role == instance[1]
    document = requests.get(f"{imds}/latest/meta-data/iam/security-credentials/{role}", headers=headers,
                            timeout=5).json()
    assert document["Code"] == "Success" and document["AccessKeyId"] and document["Token"]
    other = requests.get(f"{imds}/latest/meta-data/iam/security-credentials/someone-else", headers=headers, timeout=5)
    assert other.status_code == 404


def test_without_a_profile_there_are_no_credentials(imds, api, instance):
    ec2 = api.client("ec2")
    association = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance[0]]}])["IamInstanceProfileAssociations"][0]
    ec2.disassociate_iam_instance_profile(AssociationId=association["AssociationId"])
    headers = _token(imds)
    answer = requests.get(f"{imds}/latest/meta-data/iam/security-credentials/", headers=headers, timeout=5)
    assert answer.status_code == 404
