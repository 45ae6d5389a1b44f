"""Wheelhouses per build arg: the requirements file a version names, one wheelhouse per version, wheels two
versions share stored once, and the offline install check. Real pip over locally made wheels (no index)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from harness.errors import BuildError, SpecError
from harness.image.wheelhouse import COMPLETE, ensure_wheelhouse, requirements_file, wheelhouse_key
from harness.progress import LogProgress
from harness.spec.variant import WheelhouseSpec

SPEC = WheelhouseSpec(requirements="requirements/${VERSION}.txt")


def make_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel pip accepts (METADATA, WHEEL, RECORD)."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{name}/__init__.py", "")
        wheel.writestr(f"{info}/METADATA", metadata)
        wheel.writestr(f"{info}/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of wheels as pip's only source, and an empty harness cache."""
    wheels = tmp_path / "index"
    wheels.mkdir()
    make_wheel(wheels, "engine", "1.0", ("common==1.0",))
    make_wheel(wheels, "engine", "2.0", ("common==1.0", "extra>=1"))
    make_wheel(wheels, "common", "1.0")
    make_wheel(wheels, "extra", "1.0")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # this host's extra indexes and constraints stay out
    monkeypatch.setenv("VLLM_HARNESS_CACHE", str(tmp_path / "cache"))
    return wheels


@pytest.fixture
def variant(tmp_path: Path) -> Path:
    folder = tmp_path / "variant"
    (folder / "requirements").mkdir(parents=True)
    (folder / "requirements" / "1.0.txt").write_text("# the old release\nengine==1.0\n")
    (folder / "requirements" / "2.0.txt").write_text("engine==2.0\n")
    return folder


def test_requirements_follow_the_build_arg(variant: Path) -> None:
    assert requirements_file(SPEC, variant, {"VERSION": "2.0"}) == variant / "requirements" / "2.0.txt"
    assert wheelhouse_key(SPEC, variant, {"VERSION": "1.0"}) != wheelhouse_key(SPEC, variant, {"VERSION": "2.0"})


def test_comments_do_not_change_the_wheelhouse(variant: Path) -> None:
    before = wheelhouse_key(SPEC, variant, {"VERSION": "1.0"})
    (variant / "requirements" / "1.0.txt").write_text("engine==1.0  # reworded\n\n")
    assert wheelhouse_key(SPEC, variant, {"VERSION": "1.0"}) == before


def test_unsupported_version_or_unknown_arg_is_one_line(variant: Path) -> None:
    with pytest.raises(SpecError, match=r"'requirements/0\.9\.txt' does not exist .*no requirements for VERSION=0\.9"):
        requirements_file(SPEC, variant, {"VERSION": "0.9"})
    with pytest.raises(SpecError, match=r"names \$\{VERSION\}, which is not a build arg"):
        requirements_file(SPEC, variant, {})


def test_each_version_gets_its_wheelhouse_and_shares_common_wheels(index: Path, variant: Path) -> None:
    progress = LogProgress(None, show=lambda _: None)
    old = ensure_wheelhouse(SPEC, variant, progress, {"VERSION": "1.0"})
    new = ensure_wheelhouse(SPEC, variant, progress, {"VERSION": "2.0"})
    assert old != new and (old / COMPLETE).exists() and (new / COMPLETE).exists()
    assert sorted(p.name for p in old.glob("*.whl")) == ["common-1.0-py3-none-any.whl", "engine-1.0-py3-none-any.whl"]
    # the old engine was offered to the new download and removed again: each wheelhouse is its version's lock
    assert sorted(p.name for p in new.glob("*.whl")) == ["common-1.0-py3-none-any.whl", "engine-2.0-py3-none-any.whl",
                                                       "extra-1.0-py3-none-any.whl"]
    shared = "common-1.0-py3-none-any.whl"
    assert (old / shared).stat().st_ino == (new / shared).stat().st_ino  # stored once


def test_an_unresolvable_version_leaves_no_wheelhouse(index: Path, variant: Path, tmp_path: Path) -> None:
    (index / "extra-1.0-py3-none-any.whl").unlink()  # engine 2.0 needs it and nothing provides it
    with pytest.raises(BuildError, match="pip download for the variant wheelhouse failed"):
        ensure_wheelhouse(SPEC, variant, LogProgress(None, show=lambda _: None), {"VERSION": "2.0"})
    assert not list((tmp_path / "cache" / "wheelhouse").glob(f"*/{COMPLETE}"))


def test_editing_one_release_pins_rebuilds_only_that_release(variant: Path) -> None:
    from harness.image.build import Recipe
    from harness.spec.variant import BuildSpec

    (variant / "Dockerfile").write_text("ARG VERSION\nFROM scratch\n")
    recipe = Recipe("v", variant, BuildSpec(wheelhouse=SPEC), variant / "variant.toml")

    def content(version: str) -> str:
        args = {"VERSION": version}
        return recipe.content(args, wheelhouse_key(SPEC, variant, args))

    old, new = content("1.0"), content("2.0")
    (variant / "requirements" / "1.0.txt").write_text("engine==1.0\ncommon==1.0\n")
    assert content("2.0") == new and content("1.0") != old
    (variant / "Dockerfile").write_text("ARG VERSION\nFROM scratch\nRUN true\n")
    assert content("2.0") != new  # every other file still counts
