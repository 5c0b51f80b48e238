"""What the environment of a OneStop container can set: the variables config/onestop.yaml
substitutes, and the few the container's entry point reads itself."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config/onestop.yaml"
# services/common/container.py and config.py read these before any configuration exists.
ENTRY_POINT = {"SERVICE", "ONESTOP_CONFIG", "WEB_SERVER_ADDRESS", "COURT_SIMULATOR_PORT"}


def read_from_environment() -> set[str]:
    return set(re.findall(r"\$\{([A-Z0-9_]+)", CONFIG.read_text())) | ENTRY_POINT


def unread(names) -> list[str]:
    """The names a deployment sets that nothing reads: a setting that silently does nothing."""
    known = read_from_environment()
    return sorted(name for name in names if name not in known)
