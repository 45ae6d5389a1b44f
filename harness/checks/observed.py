"""What a check saw, recorded as facts for the expected-failure matcher (harness.spec.failure): the status
its request got (or that none came) and whether the server was healthy afterwards. They are user properties,
so results.jsonl and JUnit XML keep them too; an upstream deviation or known issue excuses a failure only
when these facts are the ones it states."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import openai

from harness.spec.failure import DROPPED, HEALTHY_AFTER, STATUS, TIMEOUT

__all__ = ["STATUS", "Record", "answered", "healthy_after", "no_answer"]

Record = Callable[[str, object], None]  # pytest's record_property


def answered(record: Record, response: httpx.Response) -> httpx.Response:
    record(STATUS, response.status_code)
    record("error", response.text[:200] if response.status_code != 200 else "")
    return response


@contextmanager
def no_answer(record: Record) -> Iterator[None]:
    """Records a request inside that got no HTTP answer, or the status of the official client's API error;
    the exception goes on."""
    try:
        yield
    except openai.APIStatusError as exc:
        record(STATUS, exc.status_code)
        raise
    except (httpx.TimeoutException, openai.APITimeoutError):
        record(STATUS, TIMEOUT)
        raise
    except (httpx.TransportError, openai.APIConnectionError):
        record(STATUS, DROPPED)
        raise


def healthy_after(record: Record, probe: Callable[[], None]) -> Callable[[], None]:
    """`probe` (a health check, a step of openai_calls.all_hold) with its verdict recorded; a probe that could
    not reach the server fails as an assertion, so all_hold still reports the steps before it."""

    def step() -> None:
        try:
            probe()
        except httpx.HTTPError as exc:
            record(HEALTHY_AFTER, False)
            raise AssertionError(f"the server did not answer its health probe afterwards ({type(exc).__name__}: "
                                 f"{exc})") from None
        except AssertionError:
            record(HEALTHY_AFTER, False)
            raise
        record(HEALTHY_AFTER, True)

    return step
