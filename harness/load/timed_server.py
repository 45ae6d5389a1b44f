"""An OpenAI-style streaming server whose timing is set, not measured: the first token `ttft_ms` after
the request arrived, then one token every `itl_ms`. Every chunk carries `x_sent`, the server's
`time.perf_counter()` just before the chunk was written, and `x_recv`, when the request had arrived —
on the same host this is the same monotonic clock the client reads, so a client's reported times can be
checked against the truth chunk by chunk. Used by benchmarks/load_accuracy.py and the load tests.

    python -m harness.load.timed_server --port 8111 --ttft-ms 50 --itl-ms 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import time

MODEL = "timed"


def _chunk(payload: dict[str, object] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    data = b"data: " + text.encode() + b"\n\n"
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ttft: float, itl: float) -> None:
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
            if method == "GET":
                body = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}
                                  if path.endswith("/models") else {"version": "timed"}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
                continue
            request = json.loads(raw or b"{}")
            await _stream(writer, request, path, received, ttft, itl)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _stream(writer: asyncio.StreamWriter, request: dict[str, object], path: str, received: float,
                  ttft: float, itl: float) -> None:
    tokens = int(request.get("max_tokens") or 16)  # type: ignore[call-overload]
    chat = path.endswith("/chat/completions")
    prompt = json.dumps(request.get("messages") if chat else request.get("prompt"))
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
    loop = asyncio.get_running_loop()
    offset = loop.time() - time.perf_counter()  # asyncio's clock is monotonic too: convert targets once
    for k in range(tokens):
        target = received + ttft + k * itl
        delay = target + offset - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        choice = {"index": 0, "delta": {"content": "tok "}} if chat else {"index": 0, "text": "tok "}
        writer.write(_chunk({"id": "x", "choices": [choice], "x_recv": received, "x_sent": time.perf_counter()}))
        await writer.drain()
    usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": tokens,
             "total_tokens": len(prompt.split()) + tokens}
    writer.write(_chunk({"id": "x", "choices": [], "usage": usage}))
    writer.write(_chunk("[DONE]") + b"0\r\n\r\n")
    await writer.drain()


async def serve(port: int, ttft_ms: float, itl_ms: float, ready: asyncio.Event | None = None) -> None:
    server = await asyncio.start_server(lambda r, w: _handle(r, w, ttft_ms / 1e3, itl_ms / 1e3), "127.0.0.1", port,
                                        backlog=1024)
    if ready is not None:
        ready.set()
    print(f"timed server on http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m harness.load.timed_server")
    p.add_argument("--port", type=int, default=8111)
    p.add_argument("--ttft-ms", type=float, default=50.0)
    p.add_argument("--itl-ms", type=float, default=20.0)
    args = p.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.ttft_ms, args.itl_ms))


if __name__ == "__main__":
    main()
