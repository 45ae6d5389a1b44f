"""Each fact about a server is read in one place: its version (`openai_calls.server_version`), a
container's State (`runtime_docker.exit_status_of`), the Bearer header (`transport.auth_headers`), and
/metrics (`prometheus.parse`, here its label sets for vLLM's KV-cache size)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.checks.openai_calls import probe, server_version
from harness.server.runtime_docker import exit_status_of
from harness.server.served import kv_cache_tokens
from harness.server.transport import auth_headers
from harness.server.wait import ExitStatus


def client(version: httpx.Response) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/version":
            return version
        return httpx.Response(200, json={"data": [{"id": "m", "max_model_len": 2048}]})

    return httpx.Client(base_url="http://server", transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(("answer", "expected"), [
    (httpx.Response(200, json={"version": "0.32.0+cpu"}), "0.32.0+cpu"),
    (httpx.Response(404, json={"detail": "Not Found"}), None),
    (httpx.Response(200, text="<html>a frontend's page</html>", headers={"content-type": "text/html"}), None),
    (httpx.Response(200, json={"version": 32}), None),
    (httpx.Response(200, json=["0.32.0"]), None),
])
def test_server_version_is_vllms_or_none(answer: httpx.Response, expected: str | None) -> None:
    with client(answer) as api:
        assert server_version(api) == expected
        facts = probe(api, "m", None)
    assert facts.vllm_version == expected and facts.max_model_len == 2048
    assert facts.vllm_like is (expected is not None)


def test_auth_headers() -> None:
    assert auth_headers("k") == {"Authorization": "Bearer k"}
    assert auth_headers(None) == {} and auth_headers("") == {}


class Container:
    def __init__(self, **state: Any) -> None:
        self.attrs = {"State": state}
        self.reloads = 0

    def reload(self) -> None:
        self.reloads += 1


def test_exit_status_of_reads_the_state() -> None:
    assert exit_status_of(Container(Running=True, Status="running")) is None
    assert exit_status_of(Container(Running=False, Status="created")) is None
    ended = Container(Running=False, Status="exited", ExitCode=137, OOMKilled=True, Error="")
    assert exit_status_of(ended) == ExitStatus(code=137, oom_killed=True)
    assert exit_status_of(ended, refresh=False) and ended.reloads == 1


def test_kv_cache_tokens_from_the_cache_config_labels() -> None:
    text = ('# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n'
            '# TYPE vllm:cache_config_info gauge\n'
            'vllm:cache_config_info{block_size="16",num_gpu_blocks="2048"} 1.0\n')
    assert kv_cache_tokens(text) == 32768
    assert kv_cache_tokens("vllm:num_requests_running 0\n") is None
    assert kv_cache_tokens("not { prometheus") is None
