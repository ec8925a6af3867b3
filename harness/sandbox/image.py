"""The sandbox instance image: a Debian 13 rootfs built once with mmdebstrap, cached by recipe.

The recipe lives in ``fixtures/sandbox/image/``; the cache key is a hash of every
file there (plus :data:`BUILDER_VERSION`), so the image is rebuilt only when the
recipe changes. The cache defaults to ``/var/cache/inventory-tracker-harness/images``
(outside the repository, so CI clones share it), overridable with ``HARNESS_IMAGE_CACHE``.

A build is quiet: mmdebstrap's full output (about 2,000 lines) goes to
``<cache>/<key>.build.log``; the live log shows a progress line (the current step
and the elapsed time) every 30 s. Only a failed build shows its output in full.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.logblock import block
from harness.spec import REPO_ROOT

log = logging.getLogger("harness.sandbox.image")

RECIPE_DIR = REPO_ROOT / "fixtures" / "sandbox" / "image"
DEFAULT_CACHE = Path("/var/cache/inventory-tracker-harness/images")
BUILDER_VERSION = "1"  # bump when this module changes how a recipe becomes an image
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
MIN_FREE_BYTES = 3 * 1024**3  # a built image is about 1 GB; apt needs room for the .debs too
COMPLETE = "complete.json"


@dataclass(frozen=True)
class ImageOptions:
    recipe_dir: Path = RECIPE_DIR  # folder with recipe.json and the customize hook
    cache_dir: Path = DEFAULT_CACHE  # where images are kept, one sub-folder per key
    mirror: str = DEFAULT_MIRROR  # Debian archive
    security_mirror: str = DEFAULT_SECURITY_MIRROR  # Debian security archive
    build_timeout: float = 1200  # seconds before a build is given up
    min_free_bytes: int = MIN_FREE_BYTES  # free space required in the cache before a build starts

    @classmethod
    def from_env(cls) -> "ImageOptions":
        """Options from the environment: HARNESS_IMAGE_CACHE, HARNESS_DEBIAN_MIRROR, HARNESS_DEBIAN_SECURITY_MIRROR."""
        return cls(
            cache_dir=Path(os.environ.get("HARNESS_IMAGE_CACHE") or DEFAULT_CACHE),
            mirror=os.environ.get("HARNESS_DEBIAN_MIRROR") or DEFAULT_MIRROR,
            security_mirror=os.environ.get("HARNESS_DEBIAN_SECURITY_MIRROR") or DEFAULT_SECURITY_MIRROR,
        )


@dataclass(frozen=True)
class Image:
    key: str
    rootfs: Path  # read-only by convention: runs boot from a copy or an overlay of it


def recipe_key(recipe_dir: Path = RECIPE_DIR) -> str:
    """Hash of every file in the recipe folder (names and contents) and the builder version."""
    digest = hashlib.sha256(f"builder={BUILDER_VERSION}\n".encode())
    for path in sorted(p for p in recipe_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(recipe_dir)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cached_image(options: ImageOptions) -> Image | None:
    """The image for the current recipe if it has been built completely, else None."""
    key = recipe_key(options.recipe_dir)
    folder = options.cache_dir / key
    if (folder / COMPLETE).is_file() and (folder / "rootfs" / "usr").is_dir():
        return Image(key, folder / "rootfs")
    return None


def ensure_image(options: ImageOptions | None = None) -> Image:
    """Return the cached image for the recipe, building it first when there is none.

    Concurrent callers wait on a lock file instead of building twice.
    """
    options = options or ImageOptions.from_env()
    image = cached_image(options)
    if image is not None:
        return image
    options.cache_dir.mkdir(parents=True, exist_ok=True)
    key = recipe_key(options.recipe_dir)
    with open(options.cache_dir / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        image = cached_image(options)
        if image is not None:
            return image
        with block(f"building the sandbox image {key} (Debian 13, mmdebstrap; a few minutes, once per recipe; "
                   f"full output in {build_log_path(options, key)})"):
            return _build(options, key)


def _recipe(options: ImageOptions) -> dict:
    try:
        return json.loads((options.recipe_dir / "recipe.json").read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"cannot read the image recipe {options.recipe_dir / 'recipe.json'}: {exc}") from exc


def build_command(options: ImageOptions, target: Path) -> list[str]:
    """The mmdebstrap command line for the recipe, writing a directory rootfs to ``target``."""
    recipe = _recipe(options)
    sources = [
        line.format(mirror=options.mirror, security_mirror=options.security_mirror) for line in recipe["sources"]
    ]
    command = [
        "mmdebstrap",
        "--mode=root",
        "--format=directory",
        f"--variant={recipe['variant']}",
        f"--include={','.join(recipe['packages'])}",
        "--aptopt=Acquire::Retries \"3\"",
        "--aptopt=Acquire::http::Timeout \"30\"",
        f"--customize-hook={shlex.quote(str(options.recipe_dir / recipe['customize']))} \"$1\"",
        "--verbose",
        recipe["suite"],
        str(target),
    ]
    # Each source line is passed as a full sources.list line (a "-" argument would read stdin).
    return command + sources


def _check_free_space(folder: Path, needed: int) -> None:
    usage = shutil.disk_usage(folder)
    if usage.free < needed:
        raise HarnessError(
            f"not enough disk space to build the sandbox image in {folder}: {usage.free / 1024**3:.2f} GB free, "
            f"{needed / 1024**3:.2f} GB needed; free space or set HARNESS_IMAGE_CACHE to a larger disk"
        )


def _classify_failure(output_tail: str, options: ImageOptions) -> str:
    text = output_tail.lower()
    if "no space left on device" in text:
        return (
            f"the disk filled up while building the sandbox image in {options.cache_dir}; "
            "free space or set HARNESS_IMAGE_CACHE to a larger disk"
        )
    unreachable = ("failed to fetch", "could not resolve", "temporary failure resolving", "unable to connect",
                   "connection failed", "could not connect", "apt-get update failed", "some index files failed")
    if any(marker in text for marker in unreachable):
        return (
            f"the Debian archive {options.mirror} is unreachable, so the sandbox image cannot be built; "
            "check the network or point HARNESS_DEBIAN_MIRROR / HARNESS_DEBIAN_SECURITY_MIRROR at a reachable mirror"
        )
    return "mmdebstrap failed building the sandbox image; see its output below and fix the recipe in fixtures/sandbox/image/"


class Progress:
    """The build's progress in the live log: the current step and the elapsed time.

    mmdebstrap's "I: ..." lines name the steps; a progress line is logged at most
    every ``every`` seconds (a few lines for a build of a few minutes). It goes
    through logging, so pytest's live log shows it even while output is captured.
    """

    def __init__(self, every: float = 30.0):
        self.started = time.monotonic()
        self.step = "starting mmdebstrap"
        self.every = every
        self.last = self.started

    def update(self, line: str) -> None:
        """Take one output line of mmdebstrap; log the step and elapsed time when ``every`` has passed."""
        if line.startswith("I: "):
            self.step = line[3:].strip()[:90]
        now = time.monotonic()
        if now - self.last >= self.every:
            log.info("image build: %.0f s, %s", now - self.started, self.step)
            self.last = now


def build_log_path(options: ImageOptions, key: str) -> Path:
    """Where a build of ``key`` keeps mmdebstrap's full output (beside the cached image)."""
    return options.cache_dir / f"{key}.build.log"


def _show_full_output(log_path: Path) -> None:
    """A failed build: its whole output into the live log."""
    try:
        log.error("mmdebstrap output (%s):\n%s", log_path, log_path.read_text(errors="replace"))
    except OSError:
        pass


def _build(options: ImageOptions, key: str) -> Image:
    folder = options.cache_dir / key
    staging = options.cache_dir / f"{key}.building"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _check_free_space(staging, options.min_free_bytes)
    except HarnessError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if shutil.which("mmdebstrap") is None:
        raise HarnessError("mmdebstrap is not installed; run `make setup` (apt-get install mmdebstrap)")
    command = build_command(options, staging / "rootfs")
    progress = Progress()
    started = progress.started
    tail: list[str] = []
    log_path = build_log_path(options, key)
    try:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            stdin=subprocess.DEVNULL,
        )
        assert process.stdout is not None
        try:
            with open(log_path, "w") as build_log:
                for raw in process.stdout:
                    line = raw.rstrip()
                    tail = (tail + [line])[-40:]
                    build_log.write(line + "\n")
                    progress.update(line)
                    if time.monotonic() - started > options.build_timeout:
                        process.kill()
                        raise HarnessError(
                            f"building the sandbox image took longer than {options.build_timeout:.0f} s; "
                            "check the connection to the Debian archive"
                        )
            status = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if status != 0:
            output = "\n".join(tail)
            _show_full_output(log_path)
            raise HarnessError(f"{_classify_failure(output, options)}\n--- mmdebstrap output (tail; all of it "
                               f"above and in {log_path}) ---\n{output}")
        (staging / COMPLETE).write_text(json.dumps({
            "key": key, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.monotonic() - started, 1), "command": command,
        }, indent=2))
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno == 28:  # ENOSPC
            raise HarnessError(_classify_failure("no space left on device", options)) from exc
        raise HarnessError(f"building the sandbox image failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Image(key, folder / "rootfs")


def main() -> None:
    """``python -m harness.sandbox.image``: build (or find) the image and print its rootfs."""
    logging.basicConfig(level=logging.WARNING)
    print(ensure_image().rootfs)


if __name__ == "__main__":
    main()
