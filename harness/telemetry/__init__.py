"""Telemetry sampled during a run, on the same wall clock as the request records: GPU (NVML or amdsmi),
the container (docker stats) and the server (/metrics). Rows are long-format `t,source,metric,value`
appended to `telemetry.csv` as they are sampled."""

from harness.telemetry.recorder import Telemetry

__all__ = ["Telemetry"]
