"""Boots a sandbox container in its own process (for the interrupt and sweep tests).

usage: python boot_script.py RUN_ID RUN_DIR USER_DATA_FILE PRIVATE_KEY PUBLIC_KEY_FILE
Prints "booted" when the instance is up, then waits to be signalled.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness import interrupt  # noqa: E402
from harness.sandbox.cloud_seed import CloudSeed  # noqa: E402
from harness.sandbox.firewall import IngressRule  # noqa: E402
from harness.sandbox.instance import sandbox_instance  # noqa: E402


def main() -> None:
    run_id, run_dir, user_data, key, public = sys.argv[1:6]
    interrupt.install()
    seed = CloudSeed("i-0123456789abcdef0", "ip-test", Path(user_data).read_bytes(),
                     (Path(public).read_text().strip(),))
    rules = [IngressRule("tcp", 22, 22, ("0.0.0.0/0",))]
    with sandbox_instance(run_id, Path(run_dir), seed, lambda: rules, Path(key)):
        print("booted", flush=True)
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main()
