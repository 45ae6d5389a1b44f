"""The LoRA checks proven both ways against real vLLM (cpu-tiny's image served with --enable-lora, its seeded
random adapter loaded at run time): they pass on the real server, and each defect a tests/defects proxy
injects (the adapter's requests answered by the base model, an unload that keeps the adapter, a load from a
missing folder accepted) fails exactly the check named for it, having really fired."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from harness.server.endpoint import Endpoint
from tests.defects import lora
from tests.defects.proxy import DefectProxy
from tests.suite_runs import assert_caught, run_suites, served

pytestmark = pytest.mark.integration

SUITE, IMAGE = "suites/test_lora.py", "cpu-tiny-lora"


lora_server = served(IMAGE)


def test_lora_checks_pass_on_real_vllm(lora_server: Endpoint, tmp_path: Path) -> None:
    result = run_suites(lora_server.base_url, tmp_path, IMAGE, SUITE)
    assert result.returncode == 0 and "3 passed" in result.stdout, result.stdout[-4000:]


CASES: list[tuple[Callable[[], lora.CountingDefect], str]] = [
    (lambda: lora.AdapterIgnored("cpu-tiny"), "test_lora_adapter_is_listed_and_answers_differently"),
    (lora.UnloadIgnored, "test_lora_unload_takes_the_adapter_away"),
    (lora.BadPathLoaded, "test_lora_bad_path_is_a_4xx"),
]


@pytest.mark.parametrize("make,check", [pytest.param(m, c, id=c) for m, c in CASES])
def test_defect_is_caught_by_its_check(lora_server: Endpoint, tmp_path: Path, make: Callable[[], lora.CountingDefect],
                                       check: str) -> None:
    defect = make()
    with DefectProxy(lora_server.base_url, defect) as url:
        result = run_suites(url, tmp_path, IMAGE, SUITE, "-k", check)
    # what a defect kept on the server (an unload it only pretended) is taken away before the direct run
    httpx.post(f"{lora_server.base_url}/v1/unload_lora_adapter", json={"lora_name": "tiny-lora"}, timeout=30)
    assert_caught(defect.hits, type(defect).__name__, result, f"{SUITE}::{check}")
    # the server itself is unharmed: the same check passes against it directly
    direct = run_suites(lora_server.base_url, tmp_path, IMAGE, SUITE, "-k", check)
    assert direct.returncode == 0 and "1 passed" in direct.stdout, direct.stdout[-3000:]
