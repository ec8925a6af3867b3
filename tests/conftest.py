"""The project's own tests: make tests/ importable helpers available."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config):
    """The fault-matrix marker (`make faults`, harness/fault_matrix.py)."""
    config.addinivalue_line("markers", "breaks(*check_ids): the certification checks this fault test breaks (make faults)")
