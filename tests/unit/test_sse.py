from __future__ import annotations

import json

from harness.checks.sse import DataSplitter, Decoder, Stream, read


def sse(*payloads: object, done: bool = True, sep: str = "\n\n") -> bytes:
    body = "".join(f"data: {json.dumps(p) if not isinstance(p, str) else p}{sep}" for p in payloads)
    return (body + (f"data: [DONE]{sep}" if done else "")).encode()


def chunk(content: str | None = None, role: str | None = None, finish: str | None = None, index: int = 0) -> dict:
    delta = {k: v for k, v in (("role", role), ("content", content)) if v is not None}
    return {"object": "chat.completion.chunk", "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def test_well_formed_stream_in_odd_network_chunks() -> None:
    raw = sse(chunk(role="assistant", content=""), chunk("Hé"), chunk("llo", finish="stop"),
              {"choices": [], "usage": {"total_tokens": 5}})
    pieces = [raw[i:i + 3] for i in range(0, len(raw), 3)]  # splits lines and a UTF-8 character
    stream = read(pieces)
    assert stream.violations == []
    assert stream.done and stream.text() == "Héllo"
    assert stream.finish_reasons() == ["stop"]
    assert stream.usage == {"total_tokens": 5}
    assert len(stream.content_times()) == 2


def test_missing_done_and_crlf_framing() -> None:
    stream = read([sse(chunk("a"), done=False, sep="\r\n\r\n")])
    assert stream.text() == "a"
    assert stream.violations == ["the stream ended without 'data: [DONE]'"]


def test_each_kind_of_violation_is_named() -> None:
    raw = b"data: {\"choices\": []}\n\nevent: x\ndata:{}\n\ndata: not-json\n\ndata: [DONE]\n\ndata: {}\n\n"
    violations = read([raw]).violations
    assert any("not a 'data: ' field" in v for v in violations)
    assert any("without the space" in v for v in violations)
    assert any("not JSON" in v for v in violations)
    assert any("data after [DONE]" in v for v in violations)


def test_mid_stream_error_is_recognised() -> None:
    stream = read([sse(chunk("a"), {"error": {"message": "engine died", "code": 500}}, done=False)])
    assert stream.error == {"message": "engine died", "code": 500}


def test_comments_are_keepalives_and_unterminated_event_counts() -> None:
    decoder = Decoder()
    assert decoder.feed(b": ping\n\n") == []
    assert decoder.feed(b"data: [DONE]") == []
    assert [e.data for e in decoder.close()] == ["[DONE]"]
    assert decoder.violations and "middle of an event" in decoder.violations[0]


def test_completions_stream_text() -> None:
    raw = sse({"object": "text_completion", "choices": [{"index": 0, "text": "ab", "finish_reason": None}]},
              {"object": "text_completion", "choices": [{"index": 0, "text": "c", "finish_reason": "length"}]})
    stream = read([raw])
    assert stream.text() == "abc" and stream.finish_reasons() == ["length"]


def _stream(*events: str) -> Stream:
    return read([("".join(f"data: {e}\n\n" for e in events)).encode()])


def test_an_in_flight_stream_tells_a_missing_done_from_a_cut() -> None:
    from harness.checks.inflight import COMPLETED, WITHOUT_DONE, ending

    last = '{"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}'
    middle = '{"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": null}]}'
    assert ending(_stream(middle, last, "[DONE]")) == COMPLETED
    assert ending(_stream(middle, last)) == WITHOUT_DONE
    assert ending(_stream(middle)) == "cut short after 1 chunks"


def test_the_load_generators_splitter_frames_every_shape_as_the_decoder_does() -> None:
    """DataSplitter cuts the common event out of the bytes and hands the rest to a Decoder: for any stream,
    split anywhere, it must yield exactly the Decoder's data payloads."""
    streams = [
        sse(chunk(role="assistant", content=""), chunk("Hé"), chunk("llo", finish="stop")),
        b": ping\n\n" + sse(chunk("a")) + b": keep-alive\n\n",
        b"data: {\"a\":\ndata: 1}\n\n" + sse(chunk("b")),  # one event over two data lines
        b"event: x\ndata: {}\n\ndata:{\"no\": \"space\"}\n\n" + sse(chunk("c")),
        sse(chunk("d"), chunk("e"), sep="\r\n\r\n"),  # CRLF from the start
        sse(chunk("f")) + sse(chunk("g"), sep="\r\n\r\n"),  # CRLF from the middle
    ]
    for raw in streams:
        expected = [e.data.encode() for e in Decoder().feed(raw)]
        assert expected, raw
        for size in (1, 2, 3, 7, 64, len(raw)):
            splitter = DataSplitter()
            got = [payload for i in range(0, len(raw), size) for payload in splitter.feed(raw[i:i + size])]
            assert got == expected, (size, raw)
