"""Suites users run: `pytest suites/ --image NAME` (or `--base-url URL`). The harness's pytest plugin
(harness.plugin, loaded through its entry point) provides the `endpoint`, `api`, `openai_client` and
`server` (what the target supports, decided once) fixtures."""
