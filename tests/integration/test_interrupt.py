"""An interrupted run (SIGINT or SIGTERM to the harness) still destroys what it created."""
import signal

import pytest

from harness_run import interrupt_harness


@pytest.mark.timeout(400)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupt_during_apply_leaves_nothing(tmp_path, sig):
    """The signal arrives mid-apply (resources exist): teardown destroys, moto stops, the run dir goes."""
    # after the apply reported its first resource (a fixed delay after its start was not enough under load: the
    # first resource took over 20 s, nothing existed yet, and there was nothing to destroy)
    result = interrupt_harness(["suites/test_infra.py"], tmp_path, when="terraform apply: aws_", sig=sig, delay=2)
    assert result.returncode != 0, result.output[-3000:]
    assert "terraform apply ... FAILED" in result.output, result.output[-3000:]
    assert "terraform destroy ... finished" in result.output, result.output[-3000:]
    assert result.certificate() is None
    assert result.leaks == [], result.output[-3000:]
