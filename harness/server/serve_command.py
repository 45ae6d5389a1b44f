"""A variant's serve settings as `vllm serve` arguments: the one translation both runtimes use."""

from __future__ import annotations

from harness.spec.variant import ServeSpec


def serve_args(serve: ServeSpec, *, port: int, host: str = "0.0.0.0", model: str | None = None) -> list[str]:
    """Arguments after `vllm serve` (the official images' ENTRYPOINT). The API key is never put here:
    argv is visible to `ps` and `docker inspect`, so it travels as VLLM_API_KEY in the environment."""
    args = [model or serve.model, "--served-model-name", serve.served_model_name,
            "--host", host, "--port", str(port)]
    if serve.max_model_len is not None:
        args += ["--max-model-len", str(serve.max_model_len)]
    if serve.gpu_memory_utilization is not None:
        args += ["--gpu-memory-utilization", str(serve.gpu_memory_utilization)]
    if serve.dtype:
        args += ["--dtype", serve.dtype]
    if serve.enforce_eager:
        args.append("--enforce-eager")
    if serve.trust_remote_code:
        args.append("--trust-remote-code")
    if serve.chat_template:
        args += ["--chat-template", serve.chat_template]
    args += list(serve.extra_args)
    return args
