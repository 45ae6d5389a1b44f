"""A short load test against a real cpu-tiny (real vLLM) through the Docker engine: the report's files
exist and hold plausible numbers, and the HTML page renders in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.load.config import LoadConfig
from harness.load.records import Chunks, read
from harness.load.runner import run_load
from harness.server.endpoint import Endpoint

pytestmark = pytest.mark.integration

# long enough answers that each level lasts seconds: the client's self-check samples itself once a second,
# and a run over before its first sample (8 tokens a request: well under a second) was never judged
OUTPUT_LEN = 64
REQUESTS = 6


def chunks_spread(rows: pd.DataFrame) -> bool:
    """Whether any request's chunks reached the client at more than one time."""
    chunks = Chunks.of(rows)
    return any(np.ptp(times) > 0 for times in np.split(chunks.flat, np.cumsum(chunks.counts)[:-1]) if len(times))


def test_load_report_against_cpu_tiny(cpu_tiny: Endpoint, tmp_path: Path) -> None:
    config = LoadConfig(base_url=cpu_tiny.base_url, model=cpu_tiny.model, kinds=("chat", "completions"),
                        concurrency=(1, 2), requests=REQUESTS, input_len=32, output_len=OUTPUT_LEN, warmup=1)
    report = run_load(cpu_tiny, config, tmp_path)
    for name in ("requests.csv", "results.json", "client.csv", "index.html", "latency_cdf.png", "percentiles.png",
                 "timeline.png", "errors.png", "vllm-bench-c=1.json", "vllm-bench-c=2.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    frame = read(tmp_path / "requests.csv")
    assert len(frame) == 2 * REQUESTS + 1  # every request sent was recorded, warm-up included
    results = json.loads((tmp_path / "results.json").read_text())
    measured = frame[frame["phase"] == "measure"]
    spread = {str(label): chunks_spread(rows) for label, rows in measured.groupby("level")}
    assert results["metadata"]["vllm_version"], "GET /version answered"
    assert results["first_request"]["ok"]
    for level in results["levels"]:
        assert level["completed"] + level["failed"] == REQUESTS
        assert level["failed"] == 0, level["harness_errors"]
        # ignore_eos: every answer is exactly max_tokens long, as the server's usage says
        assert level["total_output_tokens"] == REQUESTS * OUTPUT_LEN
        assert level["total_input_tokens"] > 0
        for name in ("ttft", "itl", "e2el", "tpot"):
            values = [level[f"p{p}_{name}_ms"] for p in ("25", "50", "75", "90", "95", "99", "99.9")]
            assert values == sorted(values), (name, values)
            # ITL and TPOT are 0 where a request's tokens came in one read: vLLM merges a fast engine's
            # deltas into one chunk when its API server lags (seen in CI), and a starved host coalesces
            # reads. The report must say so exactly when the raw chunk times do
            if name == "itl":
                assert (values[-1] > 0) == spread[level["level"]], (name, values)
            else:
                assert values[0] >= 0 and (values[-1] > 0 or name == "tpot"), (name, values)
        assert 0 < level["median_ttft_ms"] <= level["median_e2el_ms"]
    assert (measured["completion_tokens"] == OUTPUT_LEN).all()
    # vLLM has /tokenize: prompts are filled to input_len text tokens by the server's tokenizer, so prompts
    # of a kind differ only by how their first and last words join what surrounds them (the chat template
    # adds a constant); a completion prompt is the text plus at most a BOS
    assert results["metadata"]["prompt_lengths"].startswith("tokenizer")
    for kind, rows in measured.groupby("kind"):
        assert rows["prompt_tokens"].max() - rows["prompt_tokens"].min() <= 2, (kind, rows["prompt_tokens"].tolist())
    completions = measured.loc[measured["kind"] == "completions", "prompt_tokens"]
    assert (abs(completions - 32) <= 2).all(), completions.tolist()
    # the client judged its own run from samples it took while the levels ran (none: nothing was judged),
    # and the verdict is the same in results.json and on the page, with its reasons when invalid
    check = results["client_check"]
    assert check["samples"] > 0 and any(key != "samples" for key in check), check
    assert (results["valid"], results["invalid_reasons"]) == (report.valid, report.invalid_reasons)
    page = report.html.read_text()
    if report.valid:
        assert "client self-check: valid" in page and "INVALID RUN" not in page
    else:
        assert report.invalid_reasons and "INVALID RUN: load generator" in page
        assert "client self-check: valid" not in page


def test_html_report_renders_in_chromium(cpu_tiny: Endpoint, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "headless Chromium is needed: apt-get install -y chromium"
    config = LoadConfig(base_url=cpu_tiny.base_url, model=cpu_tiny.model, concurrency=(1,), requests=3,
                        input_len=16, output_len=4, warmup=0)
    report = run_load(cpu_tiny, config, tmp_path)
    shot = tmp_path / "screenshot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run", f"--screenshot={shot}", "--window-size=1200,2000",
                    report.html.as_uri()], check=True, capture_output=True, timeout=120)
    # a blank page compresses to a few KB; one with the plots is far larger
    assert shot.stat().st_size > 50_000, shot.stat().st_size
