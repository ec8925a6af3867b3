"""The AWS endpoint: real AWS needs credentials; sandbox endpoints carry their own."""
import pytest

from harness import aws
from harness.errors import HarnessError


def test_real_aws_without_credentials_says_how_to_fix(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(HarnessError, match="no AWS credentials found.*AWS_PROFILE"):
        aws.real_aws()


def test_sandbox_endpoint_points_clients_at_the_url():
    endpoint = aws.endpoint_for("http://127.0.0.1:4566")
    assert endpoint.client("ec2").meta.endpoint_url == "http://127.0.0.1:4566"
    assert endpoint.env["AWS_REGION"] == aws.SANDBOX_REGION


def test_localstack_variables_are_honoured(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert aws.localstack_endpoint() == "http://127.0.0.1:4566"
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("LOCALSTACK_HOST", raising=False)
    assert aws.localstack_endpoint() is None


def test_sandbox_amis_carry_the_spec_ami():
    from harness.spec import load_spec

    assert aws.sandbox_amis()[0]["ami_id"] == load_spec()["instance"]["ami"]
