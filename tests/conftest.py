"""The project's own tests: make tests/ importable helpers available."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
