"""The sandbox image: cache key from the recipe, contents, and clear errors when it cannot be built."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from harness.errors import HarnessError
from harness.sandbox.image import RECIPE_DIR, ImageOptions, cached_image, ensure_image, recipe_key
from sandbox_support import requires_root


def _copy_recipe(tmp_path: Path) -> Path:
    recipe = tmp_path / "recipe"
    shutil.copytree(RECIPE_DIR, recipe)
    return recipe


def test_key_follows_the_recipe(tmp_path):
    recipe = _copy_recipe(tmp_path)
    assert recipe_key(recipe) == recipe_key(RECIPE_DIR)
    (recipe / "customize.sh").write_text((recipe / "customize.sh").read_text() + "# changed\n")
    changed = recipe_key(recipe)
    assert changed != recipe_key(RECIPE_DIR)
    (recipe / "extra.conf").write_text("x")
    assert recipe_key(recipe) not in (changed, recipe_key(RECIPE_DIR))


def _installed_packages(rootfs: Path) -> set[str]:
    status = (rootfs / "var/lib/dpkg/status").read_text()
    installed, name = set(), None
    for line in status.splitlines():
        if line.startswith("Package: "):
            name = line.split(": ", 1)[1]
        elif line.startswith("Status: ") and line.endswith(" installed") and name:
            installed.add(name)
    return installed


@pytest.mark.timeout(900)
def test_image_has_what_later_stages_need():
    """The cached image holds every recipe package (no network needed later) and no ifupdown/DHCP client service."""
    requires_root()
    image = ensure_image()
    assert cached_image(ImageOptions.from_env()) == image  # built once, then found by key
    import json

    wanted = set(json.loads((RECIPE_DIR / "recipe.json").read_text())["packages"])
    installed = _installed_packages(image.rootfs)
    assert wanted <= installed, f"missing from the image: {sorted(wanted - installed)}"
    assert not {"ifupdown", "isc-dhcp-client"} & installed, "a DHCP client would hold the boot for minutes"
    cfg = (image.rootfs / "etc/cloud/cloud.cfg.d/90-sandbox.cfg").read_text()
    assert "datasource_list: [ NoCloud, None ]" in cfg and "config: disabled" in cfg
    assert (image.rootfs / "etc/machine-id").read_text() == ""  # each instance gets its own identity
    assert not list((image.rootfs / "etc/ssh").glob("ssh_host_*")), "host keys must be made per instance"


@pytest.mark.timeout(120)
def test_unreachable_archive_is_a_clear_harness_error(tmp_path):
    requires_root()
    options = ImageOptions(recipe_dir=_copy_recipe(tmp_path), cache_dir=tmp_path / "cache",
                           mirror="http://127.0.0.1:9/debian", security_mirror="http://127.0.0.1:9/debian-security")
    with pytest.raises(HarnessError, match="archive http://127.0.0.1:9/debian is unreachable") as failure:
        ensure_image(options)
    assert "HARNESS_DEBIAN_MIRROR" in str(failure.value)
    assert not list((tmp_path / "cache").glob("*/rootfs")), "a failed build must leave no image behind"


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_too_little_space_is_refused_before_building(tmp_path):
    requires_root()
    with small_disk(tmp_path / "small", "16m") as cache:
        with pytest.raises(HarnessError, match="not enough disk space.*HARNESS_IMAGE_CACHE"):
            ensure_image(ImageOptions(recipe_dir=_copy_recipe(tmp_path), cache_dir=cache))


@pytest.mark.timeout(600)
def test_disk_filling_up_during_the_build_is_a_clear_harness_error(tmp_path):
    """The disk fills while mmdebstrap downloads and unpacks (a 120 MB disk): HarnessError says so."""
    requires_root()
    with small_disk(tmp_path / "small", "120m") as cache:
        options = ImageOptions(recipe_dir=_copy_recipe(tmp_path), cache_dir=cache, min_free_bytes=1)
        with pytest.raises(HarnessError, match="disk filled up") as failure:
            ensure_image(options)
        assert "HARNESS_IMAGE_CACHE" in str(failure.value)
        assert not list(cache.glob("*/rootfs"))
