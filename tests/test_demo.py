"""`make demo` (scripts/demo.py and the install before it) prints no warnings: neither setuptools'
editable-install notice nor a kernel's "running over TCP without encryption"."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.tooling import ROOT

WARNING = re.compile(r"warning|without encryption|editable installation", re.IGNORECASE)


def test_demo_prints_no_warnings() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the kernels import this tree's liftbridge_nb
    env.pop("LIFTBRIDGE_ADDRESS", None)
    run = subprocess.run(
        [sys.executable, "scripts/demo.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    shown = run.stdout + run.stderr
    assert run.returncode == 0, shown[-3000:]
    assert "quickstart.ipynb: " in run.stdout and "replay_analysis.ipynb: " in run.stdout
    assert not WARNING.search(shown), shown


def test_the_editable_install_prints_no_warnings(tmp_path: Path) -> None:
    """`make install`'s own pip line (from `make -n`), into a scratch folder instead of .venv: quiet.

    It builds a copy of the tree (an editable build writes the native module into its source, which
    processes of this run have loaded), with this tree's cargo target folder: nothing is compiled anew.
    """
    recipe = subprocess.run(
        ["make", "-n", "-B", "install"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    (line,) = [line for line in recipe.splitlines() if " install -q -e " in line]
    words = shlex.split(line)
    env_words = [w for w in words if re.fullmatch(r"[A-Z_]+=.*", w)]
    pip = words.index(".venv/bin/pip")
    # The project's own build (no download: this venv's maturin), nothing installed but the project.
    command = [
        sys.executable, "-m", "pip", *words[pip + 1 : -1], ".", "--no-deps", "--no-build-isolation",
        "--target", str(tmp_path / "target"),  # not --prefix: that uninstalls the venv's own copy
    ]  # fmt: skip
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "target", "*.so"))
    env = {**os.environ, "CARGO_TARGET_DIR": str(ROOT / "native" / "target")}
    env.update((k, os.path.expandvars(v)) for k, v in (w.split("=", 1) for w in env_words))
    run = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert not WARNING.search(run.stdout + run.stderr), run.stdout + run.stderr


def test_the_wheel_and_the_sdist_carry_what_they_need(tmp_path: Path) -> None:
    """An abi3 wheel with the native module, its stubs and py.typed; an sdist that builds and tests."""
    import tarfile
    import zipfile

    maturin = str(Path(sys.executable).parent / "maturin")
    env = {**os.environ, "CARGO_TARGET_DIR": str(ROOT / "native" / "target")}  # compiled already
    for command in (["build", "--release"], ["sdist"]):
        run = subprocess.run(
            [maturin, *command, "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=600,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
    (wheel,) = tmp_path.glob("*.whl")
    assert "-cp311-abi3-" in wheel.name, "one wheel for every Python from 3.11"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"liftbridge_nb/_native.abi3.so", "liftbridge_nb/_native.pyi", "liftbridge_nb/py.typed"} <= names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    (sdist,) = tmp_path.glob("*.tar.gz")
    top = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as archive:
        inside = {n.removeprefix(f"{top}/") for n in archive.getnames()}
    assert {"native/Cargo.toml", "native/Cargo.lock", "native/src/lib.rs", "proto/api.proto"} <= inside
    assert {"LICENSE", "tests/conftest.py", "tests/test_subscription.py"} <= inside
