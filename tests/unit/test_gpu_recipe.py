"""The GPU recipe (images/gpu-vllm/) read as a new user would: make-carry.sh carries every package the
harness needs (from pyproject.toml, not from what a lent host happens to have), the README's commands
run on a host where the harness is not pip-installed, and install-env.sh names what the host lacks.
Offline: nothing here downloads."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "images" / "gpu-vllm"
# the host's own python3, without this venv's site-packages (where the harness is pip-installed)
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable)).resolve()


def carry_deps() -> ModuleType:
    spec = importlib.util.spec_from_file_location("carry_deps", RECIPE / "carry_deps.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_carry_resolves_every_harness_dependency() -> None:
    """What make-carry.sh feeds pip for the harness's set is pyproject.toml's [project] dependencies,
    every one, as written (pip then resolves their whole closure)."""
    wanted = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    done = subprocess.run(["bash", str(RECIPE / "make-carry.sh"), "--harness-requirements"], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "PIP_NO_INDEX": "1"} | _python_path())
    assert done.returncode == 0, done.stderr
    resolved = done.stdout.split()
    assert [r for r in wanted if r not in resolved] == []
    assert len(wanted) >= 10  # the list read is the real one, not an empty table


def _python_path() -> dict[str, str]:
    """A PATH whose python3 is >= 3.11 (make-carry.sh reads pyproject.toml with tomllib)."""
    bin_dir = Path(sys.executable).parent
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def test_harness_set_is_carried_whole_and_vllms_skips_the_host() -> None:
    module = carry_deps()
    report = {"install": [{"metadata": {"name": n, "version": "1.0"}} for n in
                          ("pytest", "jinja2", "nvidia-ml-py", "numpy", "torch", "triton", "nvidia-cublas",
                           "cuda-bindings", "transformers")]}
    host = module.host_packages(RECIPE / "device-packages.txt")
    assert {"pytest", "jinja2", "nvidia-ml-py", "numpy", "transformers"} <= host  # the lent host has them all
    harness = module.select(report, set(), set())
    assert harness == [f"{n}==1.0" for n in ("pytest", "jinja2", "nvidia-ml-py", "numpy", "transformers")]
    assert module.select(report, host, {"transformers"}) == ["transformers==1.0"]


def test_torch_pin_is_read_from_vllms_metadata() -> None:
    module = carry_deps()
    metadata = "Name: vllm\nRequires-Dist: torchaudio==2.11.0\nRequires-Dist: torch==2.11.0\n"
    assert module.torch_pin(metadata) == "2.11.0"


def test_split_keeps_each_folder_under_the_limit(tmp_path: Path) -> None:
    deps = tmp_path / "deps"
    deps.mkdir()
    for i, size in enumerate((60, 50, 30, 20, 10, 5)):
        (deps / f"w{i}.whl").write_bytes(b"x" * size)
    folders = carry_deps().split(tmp_path, limit=64)
    sizes = [sum(w.stat().st_size for w in f.iterdir()) for f in folders]
    assert not deps.exists() and sum(sizes) == 175 and max(sizes) <= 64 and len(folders) == 3


def _readme_commands() -> list[str]:
    """Every command the recipe's README shows: its indented lines and its `code spans` of 2+ words."""
    text = (RECIPE / "README.md").read_text()
    lines = [line.strip() for line in text.splitlines() if line.startswith("    ") and line.strip()[:1] not in "[-|"]
    spans = [s for s in re.findall(r"`([^`]+)`", text) if " " in s.strip()]
    return lines + spans


def _program(command: str) -> str:
    words = [w for w in shlex.split(command) if not re.match(r"^[A-Z_]+=", w)]  # VAR=value prefixes
    return words[0] if words else ""


def test_readme_commands_need_no_pip_install() -> None:
    """The GPU host has no network to pip-install the harness: no `vllm-harness` script, no pytest11
    entry point, and its python is python3."""
    programs = {c: _program(c) for c in _readme_commands()}
    assert "python3" in programs.values()
    assert {c: p for c, p in programs.items() if p in ("vllm-harness", "pytest", "python")} == {}


def _fake_checkout(tmp_path: Path) -> Path:
    """The checkout as git gives it: no egg-info of an editable install beside it."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("harness", "suites", "images", "pyproject.toml"):
        (checkout / name).symlink_to(REPO / name)
    return checkout


def _harness_site(tmp_path: Path) -> Path:
    """$HSITE as install-env.sh makes it: the harness's packages, not the harness itself."""
    site = tmp_path / "hsite"
    site.mkdir()
    venv_site = Path(next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix)))
    for entry in venv_site.iterdir():
        if not entry.name.startswith(("__editable__", "vllm_image_harness", "harness")):
            (site / entry.name).symlink_to(entry)
    return site


def test_readme_commands_run_where_the_harness_is_not_installed(tmp_path: Path) -> None:
    """The README's block of commands, each with --help, in a checkout by a python3 that has no harness
    installed: every one parses, and pytest has the plugin's options only through what the README sets."""
    block = [c for c in _readme_commands() if c.startswith(("export ", "python3 -m harness", "python3 -m pytest"))]
    assert any(c.startswith("python3 -m pytest") for c in block) and any("-m harness" in c for c in block)
    checkout, site, bin_dir = _fake_checkout(tmp_path), _harness_site(tmp_path), tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(BASE_PYTHON)
    env = {"HOME": str(tmp_path), "PATH": f"{bin_dir}:/usr/bin:/bin"}

    def bash(script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-euc", script], cwd=checkout, env=env, capture_output=True, text=True,
                              timeout=120)

    bare = bash(f"PYTHONPATH={site}:$PWD python3 -m pytest --help")
    if "--image" in bare.stdout:
        pytest.skip(f"{BASE_PYTHON} has the harness's pytest plugin installed itself: no host without it here")
    for command in (c for c in block if c.startswith("python3 -m")):
        # the README's placeholder folders stand: only $HSITE is where this test made it
        exports = re.sub(r"HSITE=\S+", f"HSITE={site}", "\n".join(c for c in block if c.startswith("export ")))
        done = bash(f"{exports}\n{command} --help")
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
        if "-m pytest" in command:
            assert "--image" in done.stdout and "--runtime" in done.stdout, command


def _bin_without(tmp_path: Path, python: Path, missing: str) -> Path:
    """A PATH folder with what install-env.sh runs, less `missing`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "ls", "cat", "mkdir", "tar", "grep", "xz"):
        if tool != missing:
            found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout
            (bin_dir / tool).symlink_to(found.strip())
    (bin_dir / "python3").symlink_to(python)
    return bin_dir


def _install_env(tmp_path: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    pieces = tmp_path / "pieces"
    pieces.mkdir()
    (pieces / "vllm.part00").write_bytes(b"not xz")
    (pieces / "torch-version.txt").write_text("2.11.0\n")
    return subprocess.run(["/bin/bash", str(RECIPE / "install-env.sh"), str(pieces), str(tmp_path / "env")],
                          env={"PATH": str(bin_dir)}, capture_output=True, text=True, timeout=60)


def _python(version: str) -> Path | None:
    """A real interpreter of that version on this machine, if any."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return BASE_PYTHON
    done = subprocess.run(["bash", "-c", f"python{version} -c 'import sys; print(sys.executable)'"],
                          capture_output=True, text=True)
    return Path(done.stdout.strip()).resolve() if done.returncode == 0 else None


def test_install_env_says_xz_is_missing(tmp_path: Path) -> None:
    done = _install_env(tmp_path, _bin_without(tmp_path, _python("3.12") or BASE_PYTHON, "xz"))
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and not (tmp_path / "env").exists()
    assert [line for line in lines if line.startswith("install-env: xz not found: install it")], done.stderr
    assert all(line.startswith("install-env: ") for line in lines), done.stderr


def test_install_env_says_python3_is_not_312(tmp_path: Path) -> None:
    other = next((p for p in (_python(v) for v in ("3.11", "3.13")) if p), None)
    if other is None:
        pytest.skip("no Python other than 3.12 on this machine to stand for a host's wrong python3")
    done = _install_env(tmp_path, _bin_without(tmp_path, other, ""))
    version = json.loads(subprocess.run([str(other), "-c", "import sys, json; print(json.dumps("
                                         "'%d.%d' % sys.version_info[:2]))"], capture_output=True,
                                        text=True).stdout)
    assert done.returncode == 2 and not (tmp_path / "env").exists()
    assert done.stderr.splitlines() == [f"install-env: python3 is Python {version}; the carried wheels are for "
                                        "3.12: put python3.12 first on PATH as python3"]
