"""Load-run reports, built from the files a run wrote (requests.csv, client.csv, telemetry.csv):

    build.py   results.json (summary per level + metadata), vllm-bench-<level>.json (vLLM's keys),
               the client self-check and the SLO verdicts
    plots.py   PNG plots (matplotlib, Agg)
    html.py    index.html: one self-contained page (plots embedded), readable offline
"""
