"""The image build's progress: a line every 30 s in the live log, not mmdebstrap's 2,000."""
import logging

from harness.sandbox.image import Progress

OUTPUT = ["I: chroot architecture amd64 is equal to the host's architecture"] + [
    f"Unpacking package{n} (1.0) ..." for n in range(1000)] + ["I: running --customize-hook"] + [
    f"Setting up package{n} (1.0) ..." for n in range(1000)]


def test_a_line_at_most_every_interval(caplog):
    progress = Progress(every=3600)
    with caplog.at_level(logging.INFO, logger="harness.sandbox.image"):
        for line in OUTPUT:
            progress.update(line)
    assert caplog.records == []
    assert progress.step == "running --customize-hook"


def test_the_line_names_the_step_and_the_elapsed_time(caplog):
    progress = Progress(every=0)
    with caplog.at_level(logging.INFO, logger="harness.sandbox.image"):
        progress.update("I: extracting archives...")
    assert [r.getMessage() for r in caplog.records] == ["image build: 0 s, extracting archives..."]
