"""Load generation: locust as a library, with our own raw per-request timings.

    config.py    LoadConfig: what one load run does (levels, lengths, rate, workers), JSON round-trip
    shapes.py    load shapes: closed-loop levels, open-loop arrival schedules (Poisson/gamma, ramp)
    prompts.py   request bodies: chat, vision chat (a distinct image per request), completions
    client.py    a streaming HTTP/1.1 client whose every SSE event carries its own perf_counter stamp
    records.py   one CSV row per request, appended and flushed as each request ends
    agent.py     the locust process (`python -m harness.load.agent`): local, master or worker
    runner.py    the parent side: starts the agent(s), shows progress, stops everything, builds the report
    metrics.py   `vllm bench serve`'s metric definitions over the records

Locust monkey-patches the whole interpreter with gevent when imported, so it only ever runs inside
the agent process: pytest, the CLI and the telemetry thread never import it.
"""
