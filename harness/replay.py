"""Recovery from a request that a stand-in AWS API carried out twice.

moto's development server (the sandbox's stand-in for AWS; LocalStack builds on
moto too) now and then carries out a request whose response the AWS SDK in the
Terraform provider never sees; the SDK retries, and the retry meets the first
attempt's effect. Seen in CI under load: the default egress rule of a new
security group "not found" because it was already revoked, a new security
group's egress rule a "duplicate" of itself, and the run's key pair a
"duplicate" of itself. Terraform then stops with an error although
nothing is wrong with the configuration.

The recovery undoes what Terraform does not know about and applies again (a
security group whose create failed half-way is tainted in the state and is
replaced). Against real AWS the same errors mean something else, so they are
never retried there.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from harness.aws import AwsEndpoint
from harness.errors import HarnessError
from harness.logblock import log

MAX_RECOVERIES = 2


@dataclass(frozen=True)
class Replay:
    """One known replayed request: what it looks like and what undoes it."""

    what: str
    pattern: str
    undo: Optional[Callable[[AwsEndpoint, re.Match], None]] = None


def _delete_key_pair(aws: AwsEndpoint, match: re.Match) -> None:
    # The first CreateKeyPair succeeded but is not in the state: remove it so the apply can create it.
    aws.client("ec2").delete_key_pair(KeyName=match.group("key"))


REPLAYS = (
    Replay("the security group's default egress rule was already revoked",
           r"revoking default IPv[46] egress rule for Security Group.*InvalidPermission\.NotFound"),
    Replay("the security group's rule was already authorised",
           r"authorizing Security Group \((?:egress|ingress)\) rules.*InvalidPermission\.Duplicate"),
    Replay("the key pair was already created",
           r"InvalidKeyPair\.Duplicate: The keypair '(?P<key>[^']+)' already exists", _delete_key_pair),
)


def find_replay(message: str) -> Optional[tuple[Replay, re.Match]]:
    """The known replayed request that ``message`` (a Terraform error) shows, if any."""
    flat = " ".join(message.split())
    for replay in REPLAYS:
        match = re.search(replay.pattern, flat)
        if match:
            return replay, match
    return None


def apply_with_replay_recovery(terraform: Any, var_file: Path, variables: dict[str, Any], aws: AwsEndpoint,
                               on_created: Optional[Callable[[str, str], None]] = None) -> None:
    """``terraform.apply``; against a stand-in API, recover from a replayed request and apply again."""
    for attempt in range(MAX_RECOVERIES + 1):
        try:
            terraform.apply(var_file, variables, on_created=on_created)
            return
        except HarnessError as exc:
            found = None if aws.endpoint_url is None or attempt == MAX_RECOVERIES else find_replay(str(exc))
            if found is None:
                raise
            replay, match = found
            log.warning("terraform apply: the stand-in API replayed a request (%s); applying again", replay.what)
            if replay.undo is not None:
                replay.undo(aws, match)
