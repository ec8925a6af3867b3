"""The instance's copy of the image: its writable layer in memory (a tmpfs as large as the root volume) or on disk,
and nothing of either left once it is removed."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.sandbox import container
from harness.sandbox.cleanup import mounts_of
from harness.spec import load_spec
from sandbox_support import requires_root


def _mount_type(path: Path) -> str:
    """The filesystem type mounted at ``path`` ("" when nothing is)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == str(path):
            return fields[fields.index("-") + 1]
    return ""


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """A tiny stand-in for the image's root filesystem: what an overlay needs below it."""
    requires_root()
    lower = tmp_path / "image"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc/os-release").write_text("ID=debian\n")
    return lower


def test_booted_instance_writes_to_memory_as_large_as_its_root_volume(booted):
    """The booted container's writes land in a tmpfs the size of spec.json's root volume, not on the disk."""
    layer = booted.rootfs.parent / container.LAYER
    assert _mount_type(layer) == "tmpfs", f"{layer} is not a tmpfs: the instance writes to the machine's disk"
    size = os.statvfs(layer).f_blocks * os.statvfs(layer).f_frsize
    assert size == load_spec()["instance"]["root_volume_gb"] << 30
    assert f"upperdir={layer}/upper" in Path("/proc/self/mountinfo").read_text()


def test_memory_layer_is_unmounted_with_the_copy(image: Path, tmp_path: Path, monkeypatch):
    """A copy made with a memory layer writes there; removing the copy leaves no mount and no folder."""
    monkeypatch.delenv(container.DISK_ENV, raising=False)
    folder = tmp_path / "it0000beef" / "instance"
    copy = container.make_rootfs_copy(image, folder, memory_gb=1)
    try:
        (copy.rootfs / "etc/written").write_text("x")
        assert _mount_type(folder / container.LAYER) == "tmpfs"
        assert (folder / container.LAYER / "upper/etc/written").read_text() == "x"
        assert (image / "etc/written").exists() is False, "the write went through to the image"
    finally:
        container.remove_rootfs_copy(folder)
    assert mounts_of("it0000beef") == [] and not folder.exists()


def test_disk_asked_for_keeps_the_layer_in_the_folder(image: Path, tmp_path: Path, monkeypatch):
    """HARNESS_INSTANCE_DISK=disk: no tmpfs; the writes land in the copy's folder, as before the memory layer."""
    monkeypatch.setenv(container.DISK_ENV, "disk")
    folder = tmp_path / "it0000cafe" / "instance"
    copy = container.make_rootfs_copy(image, folder, memory_gb=1)
    try:
        (copy.rootfs / "etc/written").write_text("x")
        assert _mount_type(folder / container.LAYER) == ""
        assert (folder / "upper/etc/written").read_text() == "x"
    finally:
        container.remove_rootfs_copy(folder)
    assert mounts_of("it0000cafe") == [] and not folder.exists()


def test_too_little_memory_keeps_the_layer_on_disk(monkeypatch):
    """Under MEMORY_LAYER_MIN_AVAILABLE of free memory the layer goes on disk (a small machine still runs)."""
    monkeypatch.delenv(container.DISK_ENV, raising=False)
    monkeypatch.setattr(container, "_memory_available", lambda: container.MEMORY_LAYER_MIN_AVAILABLE - 1)
    assert container.memory_layer_wanted() is False
    monkeypatch.setattr(container, "_memory_available", lambda: container.MEMORY_LAYER_MIN_AVAILABLE)
    assert container.memory_layer_wanted() is True


def test_a_failed_overlay_leaves_no_memory_layer_mounted(tmp_path: Path, monkeypatch):
    """An image the overlay cannot use: the copy falls back to cp (which fails here too), and the memory layer it
    had mounted for the overlay is unmounted at once, not left until the clean-up."""
    requires_root()
    monkeypatch.delenv(container.DISK_ENV, raising=False)
    folder = tmp_path / "it0000f00d" / "instance"
    try:
        with pytest.raises(HarnessError, match="copying the sandbox image"):
            container.make_rootfs_copy(tmp_path / "no-such-image", folder, memory_gb=1)
        assert mounts_of("it0000f00d") == [], "the memory layer stayed mounted after the overlay failed"
    finally:
        container.remove_rootfs_copy(folder)


def test_an_unknown_choice_of_disk_is_refused_naming_the_choices(monkeypatch):
    """HARNESS_INSTANCE_DISK=ram (a typo of a user): one message naming the variable and its two values."""
    monkeypatch.setenv(container.DISK_ENV, "ram")
    with pytest.raises(HarnessError, match="HARNESS_INSTANCE_DISK='ram' is not a choice: set it to 'disk'"):
        container.memory_layer_wanted()
    monkeypatch.setenv(container.DISK_ENV, "memory")
    monkeypatch.setattr(container, "_memory_available", lambda: container.MEMORY_LAYER_MIN_AVAILABLE)
    assert container.memory_layer_wanted() is True
