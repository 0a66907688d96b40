"""Generate liftbridge_nb/_proto/ from proto/api.proto.

Usage: python tools/gen_proto.py [OUTPUT_DIR]

Runs grpcio-tools' protoc with the mypy-protobuf plugins (versions pinned in
pyproject.toml's dev extra, so the output is reproducible) and turns the
generated top-level ``import api_pb2`` into a package-relative import.
tests/test_proto.py calls this into a temporary directory and compares the
result with the committed files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
DEFAULT_OUT = ROOT / "liftbridge_nb" / "_proto"
GENERATED = ("api_pb2.py", "api_pb2.pyi", "api_pb2_grpc.py", "api_pb2_grpc.pyi")
INIT = '"""Generated gRPC code for the Liftbridge API (`make proto`); do not edit."""\n'


def generate(out_dir: Path) -> None:
    """Write the generated modules (and the package's ``__init__``) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent  # protoc-gen-mypy lives beside this interpreter
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}",
                f"--python_out={tmp}", f"--grpc_python_out={tmp}",
                f"--mypy_out={tmp}", f"--mypy_grpc_out={tmp}", "api.proto",
            ],
            check=True, env=env,
        )  # fmt: skip
        for name in GENERATED:
            text = (Path(tmp) / name).read_text()
            text = re.sub(r"^import api_pb2 as (\w+)$", r"from . import api_pb2 as \1", text, flags=re.M)
            (out_dir / name).write_text(text)
    (out_dir / "__init__.py").write_text(INIT)


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)
