"""An OpenAI-style streaming server whose timing is set, not measured: the first token `ttft_ms` after
the request arrived, then one token every `itl_ms`. Every chunk carries `x_sent`, the server's
`time.perf_counter()` just before the chunk was written, and `x_recv`, when the request had arrived —
on the same host this is the same monotonic clock the client reads, so a client's reported times can be
checked against the truth chunk by chunk. Used by benchmarks/load_accuracy.py and the load tests.

    python -m harness.load.timed_server --port 8111 --ttft-ms 50 --itl-ms 20

It also takes `vllm serve`'s argument shape (MODEL, --served-model-name, --host, --port; others ignored),
so a variant can run it in a container: the bump gate's proof builds one whose build arg sets its speed.
`--echo` makes each answer a digest of the request (different inputs, different answers); without it
every input gets the same answer, like a server that never sees its input.

`--fault KIND` makes it a broken server for the harness's own tests: every `--fault-every N`-th streaming
completion request (counted per process, from the first; default every one) gets the fault instead of its answer.
`http-500`: a 500 with an OpenAI-style error body; `cut-stream`: half the tokens, then the connection is
closed mid-stream (no terminating chunk, no `[DONE]`); `drop`: the connection is closed without a response.

    running(ttft_ms=50) as url:   the server as a subprocess on a free port, stopped on exit

Caches of known behaviour, for the harness's cache and multi-turn proofs: a prompt is its words (chat:
every message's text in order), cut into blocks of 16; a block whose whole prefix was seen before is a
prefix-cache hit (never the last token, as vLLM), and `--prefill-ms-per-token` adds that much TTFT per
token not served from the cache. `--no-enable-prefix-caching` turns the cache off, as in vLLM (its
counters then stay still). An image URL seen before is a multimodal-cache hit; `--spec-acceptance P`
reports two drafted tokens per generated token, P of them accepted. GET /metrics exposes vLLM 0.32's
counters (vllm:prefix_cache_queries/hits, mm_cache_queries/hits, spec_decode_num_draft/accepted_tokens,
prompt_tokens) for this process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus

from harness.server.child_server import child_server

MODEL = "timed"
BLOCK = 16  # words per prefix-cache block
FAULTS = ("http-500", "cut-stream", "drop")


@dataclass(frozen=True)
class Behaviour:
    ttft: float  # seconds
    itl: float
    model: str = MODEL
    version: str = "timed"
    echo: bool = False
    max_model_len: int | None = None  # reported in /v1/models as vLLM does
    retrieve_status: int = 404  # GET /v1/models/{model}: vLLM serves none (404 {"detail":"Not Found"})
    fault: str | None = None  # one of FAULTS
    fault_every: int = 1
    prefix_caching: bool = True
    prefill: float = 0.0  # seconds of TTFT per prompt token not served from the prefix cache
    spec_acceptance: float | None = None  # share of drafted tokens accepted; None: no speculative decoding

    def faulty(self, count: int) -> str | None:
        """The fault the `count`-th streaming request (1-based) gets, if any."""
        return self.fault if self.fault and count % self.fault_every == 0 else None


class _Cut(Exception):
    """The connection is to be closed now (an injected fault)."""


class Caches:
    """This process's prefix and multimodal caches and vLLM's counters of them."""

    def __init__(self) -> None:
        self.blocks: set[int] = set()
        self.images: set[int] = set()
        self.counters = dict.fromkeys(("prefix_cache_queries", "prefix_cache_hits", "mm_cache_queries",
                                       "mm_cache_hits", "prompt_tokens", "spec_decode_num_draft_tokens",
                                       "spec_decode_num_accepted_tokens"), 0.0)

    def admit(self, words: list[str], images: list[str], how: Behaviour) -> int:
        """Count one prompt in; returns its tokens not served from the prefix cache."""
        self.counters["prompt_tokens"] += len(words)
        self.counters["mm_cache_queries"] += len(images)
        for url in images:
            key = hash(url)
            self.counters["mm_cache_hits"] += key in self.images
            self.images.add(key)
        if not how.prefix_caching:
            return len(words)
        chain, hits, missed = 0, 0, False
        for start in range(0, len(words) - len(words) % BLOCK, BLOCK):
            chain = hash((chain, *words[start:start + BLOCK]))
            if not missed and chain in self.blocks and start + BLOCK < len(words):
                hits += BLOCK
            else:
                missed = True
            self.blocks.add(chain)
        self.counters["prefix_cache_queries"] += len(words)
        self.counters["prefix_cache_hits"] += hits
        return len(words) - hits

    def generated(self, tokens: int, how: Behaviour) -> None:
        if how.spec_acceptance is not None:
            self.counters["spec_decode_num_draft_tokens"] += 2 * tokens
            self.counters["spec_decode_num_accepted_tokens"] += 2 * tokens * how.spec_acceptance  # a rate: exact

    def exposition(self) -> bytes:
        lines = []
        for name, value in self.counters.items():
            lines += [f"# TYPE vllm:{name} counter", f'vllm:{name}_total{{model_name="{MODEL}"}} {float(value)}']
        return ("\n".join(lines) + "\n").encode()


CACHES = Caches()


def prompt_of(request: dict[str, object], chat: bool) -> tuple[list[str], list[str]]:
    """A request's prompt words (chat: each message's text, in order) and its image URLs."""
    if not chat:
        return str(request.get("prompt") or "").split(), []
    words: list[str] = []
    images: list[str] = []
    for message in request.get("messages") or []:  # type: ignore[attr-defined]
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else [{"type": "text", "text": content or ""}]:
            if part.get("type") == "text":
                words += str(part.get("text") or "").split()
            elif part.get("type") == "image_url":
                images.append(str((part.get("image_url") or {}).get("url")))
    return words, images


def _chunk(payload: dict[str, object] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    data = b"data: " + text.encode() + b"\n\n"
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


_streamed = [0]  # completion requests this process has received (the faults count them)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, how: Behaviour) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            received = time.perf_counter()
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
            if method == "GET" and path.endswith("/metrics"):
                body = CACHES.exposition()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
                continue
            if method == "GET":
                card = {"id": how.model, "object": "model",
                        **({"max_model_len": how.max_model_len} if how.max_model_len else {})}
                status, answer = (how.retrieve_status, {"detail": "Not Found"}) if path.startswith("/v1/models/") \
                    else (200, {"object": "list", "data": [card]} if path.endswith("/models") else
                          {"version": how.version})
                body = json.dumps(answer).encode()
                writer.write(f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()
                             + b"content-type: application/json\r\ncontent-length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
                continue
            request = json.loads(raw or b"{}")
            fault = None
            if path.endswith("completions"):  # the load's requests; not e.g. a /tokenize probe
                _streamed[0] += 1
                fault = how.faulty(_streamed[0])
            if fault == "drop":
                raise _Cut
            if fault == "http-500":
                await _error_500(writer)
                continue
            await _stream(writer, request, path, received, how, cut=fault == "cut-stream")
    except (asyncio.IncompleteReadError, ConnectionError, _Cut):
        pass
    finally:
        writer.close()


async def _error_500(writer: asyncio.StreamWriter) -> None:
    body = json.dumps({"error": {"message": "injected fault: internal server error", "type": "InternalServerError",
                                 "code": 500}}).encode()
    writer.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)
    await writer.drain()


async def _stream(writer: asyncio.StreamWriter, request: dict[str, object], path: str, received: float,
                  how: Behaviour, cut: bool = False) -> None:
    chat = path.endswith("/chat/completions")
    words, images = prompt_of(request, chat)
    ttft, itl = how.ttft + how.prefill * CACHES.admit(words, images, how), how.itl
    tokens = int(request.get("max_tokens") or 16)  # type: ignore[call-overload]
    CACHES.generated(tokens, how)
    prompt = json.dumps(request.get("messages") if chat else request.get("prompt"))
    word = hashlib.sha256(prompt.encode()).hexdigest()[:6] + " " if how.echo else "tok "
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
    choice = {"index": 0, "delta": {"content": word}} if chat else {"index": 0, "text": word}
    # every chunk is this JSON object and its send stamp: formatted once, so a chunk costs little to write
    head = json.dumps({"id": "x", "choices": [choice], "x_recv": received}, separators=(",", ":"))[:-1] + ',"x_sent":'
    loop = asyncio.get_running_loop()
    offset = loop.time() - time.perf_counter()  # asyncio's clock is monotonic too: convert targets once
    for k in range(tokens):
        if cut and k >= max(tokens // 2, 1):
            raise _Cut  # the rest never comes: the connection closes mid-stream
        target = received + ttft + k * itl
        delay = target + offset - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        writer.write(_chunk(head + repr(time.perf_counter()) + "}"))
        await writer.drain()
    usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": tokens,
             "total_tokens": len(prompt.split()) + tokens}
    writer.write(_chunk({"id": "x", "choices": [], "usage": usage}))
    writer.write(_chunk("[DONE]") + b"0\r\n\r\n")
    await writer.drain()


async def serve(port: int, ttft_ms: float, itl_ms: float, ready: asyncio.Event | None = None, *,
                host: str = "127.0.0.1", model: str = MODEL, version: str = "timed", echo: bool = False,
                max_model_len: int | None = None, retrieve_status: int = 404, reuse_port: bool = False,
                quiet: bool = False, prefix_caching: bool = True, prefill_ms_per_token: float = 0.0,
                spec_acceptance: float | None = None, fault: str | None = None, fault_every: int = 1) -> None:
    how = Behaviour(ttft_ms / 1e3, itl_ms / 1e3, model, version, echo, max_model_len,
                    retrieve_status=retrieve_status, fault=fault, fault_every=fault_every,
                    prefix_caching=prefix_caching, prefill=prefill_ms_per_token / 1e3, spec_acceptance=spec_acceptance)
    server = await asyncio.start_server(lambda r, w: _handle(r, w, how), host, port, backlog=4096,
                                        reuse_port=reuse_port)
    if ready is not None:
        ready.set()
    if not quiet:
        print(f"timed server on http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


async def _child(port: int, host: str, ready_w: int, kw: dict[str, object]) -> None:
    """One of serve_processes' servers: says it listens (a byte down the pipe), then serves."""
    listening = asyncio.Event()
    serving = serve(port, reuse_port=True, quiet=True, ready=listening, host=host, **kw)  # type: ignore[arg-type]
    task = asyncio.create_task(serving)
    await listening.wait()
    os.write(ready_w, b".")
    await task


def serve_processes(processes: int, port: int, host: str, **kw: object) -> None:
    """The same server in `processes` forked processes sharing one port (SO_REUSEPORT: the kernel spreads the
    connections), so a benchmark can offer more chunks a second than one Python process writes."""
    claim = socket.socket()
    claim.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    claim.bind((host, port))  # takes the port (a free one for 0) without listening: it gets no connections
    port = claim.getsockname()[1]
    children: list[int] = []
    ready_r, ready_w = os.pipe()
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_child(port, host, ready_w, kw))
            os._exit(0)
        children.append(pid)
    os.close(ready_w)
    try:
        signal.signal(signal.SIGTERM, _interrupt)
        got = b""
        while len(got) < processes:
            more = os.read(ready_r, processes)
            if not more:
                raise SystemExit("timed server: a server process exited before listening")
            got += more
        print(f"timed server ({processes} processes) on http://127.0.0.1:{port}", flush=True)
        os.waitpid(children[0], 0)
    except KeyboardInterrupt:
        pass
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m harness.load.timed_server")
    p.add_argument("--port", type=int, default=8111)
    p.add_argument("--ttft-ms", type=float, default=50.0)
    p.add_argument("--itl-ms", type=float, default=20.0)
    p.add_argument("model", nargs="?", default=MODEL, help="vllm serve's MODEL (only named, never loaded)")
    p.add_argument("--served-model-name", default=None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--version-name", default="timed", help="what GET /version reports")
    p.add_argument("--echo", action="store_true", help="answers depend on the request")
    p.add_argument("--max-model-len", type=int, default=None, help="what /v1/models reports, as vLLM does")
    p.add_argument("--processes", type=int, default=1, help="serve from this many processes on one port")
    p.add_argument("--fault", choices=FAULTS, default=None, help="a broken server: what the faulty requests get")
    p.add_argument("--fault-every", type=int, default=1, metavar="N",
                   help="every N-th completion request is faulty (default 1: each)")
    p.add_argument("--retrieve-status", type=int, default=404,
                   help="the status of GET /v1/models/{model} (vLLM's: 404; its body is never a model card)")
    p.add_argument("--no-enable-prefix-caching", action="store_true", help="as vLLM: no prefix cache")
    p.add_argument("--prefill-ms-per-token", type=float, default=0.0, help="TTFT per token not cached")
    p.add_argument("--spec-acceptance", type=float, default=None, help="report speculative decoding at this rate")
    args, _ = p.parse_known_args()  # vllm serve's other options mean nothing here
    if args.fault_every < 1:
        p.error("--fault-every must be >= 1")
    kw: dict[str, object] = {"model": args.served_model_name or MODEL, "version": args.version_name,
                             "echo": args.echo, "max_model_len": args.max_model_len,
                             "retrieve_status": args.retrieve_status, "fault": args.fault,
                             "fault_every": args.fault_every, "prefix_caching": not args.no_enable_prefix_caching,
                             "prefill_ms_per_token": args.prefill_ms_per_token,
                             "spec_acceptance": args.spec_acceptance}
    if args.processes > 1:
        serve_processes(args.processes, args.port, args.host, ttft_ms=args.ttft_ms, itl_ms=args.itl_ms, **kw)
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.ttft_ms, args.itl_ms, host=args.host, **kw))  # type: ignore[arg-type]


@contextlib.contextmanager
def running(ttft_ms: float = 50.0, itl_ms: float = 20.0, *extra: str, timeout: float = 30.0) -> Iterator[str]:
    """The server as a subprocess on a free port: yields its URL once it listens; always stopped."""
    with child_server("harness.load.timed_server", "--port", "0", "--ttft-ms", str(ttft_ms), "--itl-ms",
                      str(itl_ms), *extra, timeout=timeout) as url:
        yield url


if __name__ == "__main__":
    main()
