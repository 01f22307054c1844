"""einx_typed.nn.flax parameters sharded by their axis names on 8 simulated CPU devices.

The device count is fixed when JAX starts, so the checks run in a fresh interpreter
(``flax_sharding_worker.py``): a jitted, sharded init and training steps of the
``specs/`` models give the losses, parameters and statistics of the unsharded run, and
every variable is sharded as ``nn.logical_axis_rules`` maps its spec's axis names.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).resolve().with_name("flax_sharding_worker.py")
TIMEOUT_S = 600  # a healthy run takes well under a minute; this turns a hang into a failure


def test_sharded_init_and_training_follow_the_logical_axis_rules() -> None:
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
    }
    result = subprocess.run(
        [sys.executable, str(WORKER)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["digits_mixer.toml", "digits_mlp.toml"]
