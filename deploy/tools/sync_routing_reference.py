"""Copy routing's shipped reference data into the kustomize base, where configMapGenerator
makes the `routing-reference` ConfigMap of it (kustomize reads no file outside its own tree).

    python deploy/tools/sync_routing_reference.py          # copy services/routing/data/*.yaml
    python deploy/tools/sync_routing_reference.py --check  # exit 1 when a copy differs

A deployment with reference data of its own replaces the ConfigMap in its overlay
(docs/operations.md) and leaves these copies alone.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "services/routing/data"
COPIES = ROOT / "deploy/k8s/base/routing/reference"
FILES = ("directory.yaml", "rules.yaml")


def stale() -> list[str]:
    return [name for name in FILES
            if not (COPIES / name).exists() or (COPIES / name).read_bytes() != (SHIPPED / name).read_bytes()]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check"]:
        differing = stale()
        if differing:
            print(f"{COPIES.relative_to(ROOT)}: {', '.join(differing)} differ from {SHIPPED.relative_to(ROOT)}: "
                  f"run python {Path(__file__).relative_to(ROOT)}", file=sys.stderr)
            return 1
        return 0
    COPIES.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(SHIPPED / name, COPIES / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
