"""The sandbox instance's metadata service: a STAND-IN for EC2's IMDS at 169.254.169.254.

EC2 answers an instance's metadata requests with that instance's own identity
and, when it has an instance profile, temporary credentials of the profile's
role. moto's built-in metadata answers with a fixed role and fixed keys, so the
sandbox serves IMDSv2 itself, from what the run's AWS API says about the
instance: the role comes from the instance's ``IamInstanceProfile``, and the
credentials from ``sts:AssumeRole`` of that role at the same API. An instance
without a profile gets 404 for credentials, as on EC2.

Only what the instance uses is served: the IMDSv2 token, instance id, region,
public keys, ``iam/info``, ``iam/security-credentials/<role>`` and the identity
document. Tokens are required (the instance's ``http_tokens = "required"``).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

log = logging.getLogger("harness.sandbox.imds")

TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
CREDENTIAL_SECONDS = 3600
REFRESH_BEFORE_SECONDS = 300


@dataclass
class InstanceIdentity:
    """What the metadata service says about the instance, looked up at the run's AWS API."""

    instance_id: str
    region: str
    public_key: str
    clients: Callable[[str], Any]  # service name -> boto3 client at the run's AWS API
    _cached: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def profile(self) -> Optional[dict[str, str]]:
        """The instance's profile (Arn, Id) and its role's name and ARN, or None without a profile."""
        reservations = self.clients("ec2").describe_instances(InstanceIds=[self.instance_id])["Reservations"]
        association = reservations[0]["Instances"][0].get("IamInstanceProfile")
        if not association:
            return None
        name = association["Arn"].rsplit("/", 1)[-1]
        roles = self.clients("iam").get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
        if not roles:
            return None
        return {"Arn": association["Arn"], "Id": association.get("Id", ""), "RoleName": roles[0]["RoleName"],
                "RoleArn": roles[0]["Arn"]}

    def credentials(self, role_name: str) -> Optional[dict[str, str]]:
        """Temporary credentials of ``role_name`` when it is the instance's role (cached until near expiry)."""
        profile = self.profile()
        if profile is None or profile["RoleName"] != role_name:
            return None
        with self._lock:
            cached = self._cached.get(role_name)
            if cached and cached["expires"] - time.time() > REFRESH_BEFORE_SECONDS:
                return cached["document"]
            answer = self.clients("sts").assume_role(RoleArn=profile["RoleArn"], RoleSessionName=self.instance_id,
                                                     DurationSeconds=CREDENTIAL_SECONDS)["Credentials"]
            expiration = answer["Expiration"]
            document = {
                "Code": "Success",
                "LastUpdated": _iso(dt.datetime.now(dt.timezone.utc)),
                "Type": "AWS-HMAC",
                "AccessKeyId": answer["AccessKeyId"],
                "SecretAccessKey": answer["SecretAccessKey"],
                "Token": answer["SessionToken"],
                "Expiration": _iso(expiration),
            }
            self._cached[role_name] = {"document": document, "expires": expiration.timestamp()}
            return document


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    identity: InstanceIdentity
    tokens: dict[str, float]
    server_version = "EC2ws"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.info("imds %s %s", self.command, self.path)  # never the answer: it may hold credentials

    def _send(self, status: int, body: str = "", content_type: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
        if self.path != "/latest/api/token":
            return self._send(404)
        try:
            ttl = int(self.headers.get(TOKEN_TTL_HEADER, ""))
        except ValueError:
            return self._send(400, "missing or invalid " + TOKEN_TTL_HEADER)
        if not 1 <= ttl <= 21600:
            return self._send(400, TOKEN_TTL_HEADER + " must be 1-21600")
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.time() + ttl
        self._send(200, token)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        expires = self.tokens.get(self.headers.get(TOKEN_HEADER, ""), 0)
        if expires < time.time():
            return self._send(401)  # IMDSv2 only (http_tokens = "required")
        try:
            answer = self._answer(self.path.rstrip("/") if self.path != "/" else "/")
        except Exception as exc:  # noqa: BLE001 - the API failed: the instance sees a 500, the log says why
            log.error("imds %s failed: %s", self.path, exc)
            return self._send(500)
        if answer is None:
            return self._send(404)
        body, content_type = answer
        self._send(200, body, content_type)

    def _answer(self, path: str) -> Optional[tuple[str, str]]:
        identity = self.identity
        meta = "/latest/meta-data"
        simple = {
            f"{meta}/instance-id": identity.instance_id,
            f"{meta}/placement/region": identity.region,
            f"{meta}/placement/availability-zone": identity.region + "a",
            f"{meta}/public-keys": "0=instance-key",
            f"{meta}/public-keys/0": "openssh-key",
            f"{meta}/public-keys/0/openssh-key": identity.public_key,
            meta: "instance-id\nplacement/\npublic-keys/\niam/",
        }
        if path in simple:
            return simple[path], "text/plain"
        if path == "/latest/dynamic/instance-identity/document":
            document = {"instanceId": identity.instance_id, "region": identity.region,
                        "availabilityZone": identity.region + "a", "accountId": "123456789012"}
            return json.dumps(document), "application/json"
        if not path.startswith(f"{meta}/iam"):
            return None
        profile = identity.profile()
        if profile is None:
            return None
        if path == f"{meta}/iam":
            return "info\nsecurity-credentials/", "text/plain"
        if path == f"{meta}/iam/info":
            info = {"Code": "Success", "LastUpdated": _iso(dt.datetime.now(dt.timezone.utc)),
                    "InstanceProfileArn": profile["Arn"], "InstanceProfileId": profile["Id"]}
            return json.dumps(info), "application/json"
        if path == f"{meta}/iam/security-credentials":
            return profile["RoleName"], "text/plain"
        prefix = f"{meta}/iam/security-credentials/"
        if path.startswith(prefix):
            document = identity.credentials(path[len(prefix):])
            return (json.dumps(document), "application/json") if document else None
        return None


def metadata_server(identity: InstanceIdentity, address: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server (not started) answering IMDSv2 for ``identity`` on ``address:port``."""
    handler = type("MetadataHandler", (_Handler,), {"identity": identity, "tokens": {}})
    server = ThreadingHTTPServer((address, port), handler)
    server.daemon_threads = True
    return server
