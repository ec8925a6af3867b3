"""Removing objects from a versioned bucket for good (every version, no delete marker left).

A plain DeleteObject in a versioned bucket leaves a delete marker; moto 5.2.5 then
fails the force-destroy of the bucket at teardown ("'FakeDeleteMarker' object has no
attribute 'dispose'") and the provider retries for many minutes. Faults and the drill
that take backups away therefore remove their versions, as a lost backup would be.
"""
from __future__ import annotations

from typing import Any, Callable


def delete_every_version(s3: Any, bucket: str, prefix: str,
                         select: Callable[[dict[str, Any]], bool] = lambda version: True) -> int:
    """Delete every version (and delete marker) of the objects under ``prefix`` that ``select`` keeps; the count."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if select(version):
                s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
                deleted += 1
    return deleted
