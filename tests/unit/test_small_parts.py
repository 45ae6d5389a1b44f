from __future__ import annotations

import sys

import pytest

from harness.errors import EnvironmentProblem
from harness.image.wheelhouse import platform_tags
from harness.redact import Redactor
from harness.server.endpoint import server_root
from harness.server.gpu_libs import load


@pytest.mark.parametrize("url", ["http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/",
                                 " http://h:8000/v1 "])
def test_server_root_accepts_root_or_v1(url: str) -> None:
    assert server_root(url) == "http://h:8000"


def test_gateway_prefix_is_kept() -> None:
    assert server_root("https://gw.example/ocr/v1") == "https://gw.example/ocr"


def test_redactor_masks_longest_secret_first() -> None:
    redact = Redactor(["hf_abcdef", "hf_abcdef_long", None, "ab"])
    assert redact("token hf_abcdef_long and hf_abcdef, ab") == "token *** and ***, ab"


def test_platform_tags_cover_every_older_glibc() -> None:
    tags = platform_tags("2.36")
    assert tags[0] == "manylinux_2_36_x86_64" and "manylinux_2_17_x86_64" in tags
    assert tags[-4:] == ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]


def test_missing_gpu_library_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "amdsmi", None)  # what a host without the extra sees: ImportError
    with pytest.raises(EnvironmentProblem, match=r"amdsmi is not available .*vllm-image-harness\[amd\]"):
        load("amdsmi")
