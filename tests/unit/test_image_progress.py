"""The image build's progress: one line, not mmdebstrap's 2,000."""
import io
import sys

from harness.sandbox.image import Progress

OUTPUT = ["I: chroot architecture amd64 is equal to the host's architecture"] + [
    f"Unpacking package{n} (1.0) ..." for n in range(1000)] + ["I: running --customize-hook"] + [
    f"Setting up package{n} (1.0) ..." for n in range(1000)]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_outside_a_terminal_a_line_at_most_every_interval(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "__stderr__", err)
    progress = Progress(every=3600)
    for line in OUTPUT:
        progress.update(line)
    progress.done()
    assert err.getvalue().count("\n") <= 1
    assert progress.step == "running --customize-hook"


def test_on_a_terminal_one_line_rewritten_in_place(monkeypatch):
    err = _Terminal()
    monkeypatch.setattr(sys, "__stderr__", err)
    progress = Progress()
    progress.last = -1.0  # show the first update at once
    for line in OUTPUT:
        progress.update(line)
    progress.done()
    assert "\n" not in err.getvalue() and "image build" in err.getvalue()
