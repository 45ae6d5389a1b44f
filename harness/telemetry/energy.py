"""GPU energy over a window, from telemetry.csv: each board's power samples (W) integrated by the
trapezoid rule, and, where the board keeps a total-energy counter (NVML's
nvmlDeviceGetTotalEnergyConsumption, amdsmi's energy count), that counter's difference, which is what
is reported then, checked against the integral.

Whole-board energy of every GPU, idle draw included: nothing is subtracted, because the idle share
of a busy window cannot be measured (a baseline taken before the load would not be that share)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NOTE = ("whole-board energy of every GPU over each level's first send to last answer, idle draw included "
        "(nothing subtracted: the idle share of a busy window cannot be measured); from the boards' energy "
        "counters where they have them (checked against the integrated power), else integrated power samples")
POWER = "power_w"
AGREEMENT = 0.15  # counter vs integral: beyond this share apart, the level says so
COUNTER = "energy_j"


def _at(t: np.ndarray, y: np.ndarray, when: float) -> float:
    return float(np.interp(when, t, y))


def integrate_power(t: np.ndarray, watts: np.ndarray, start: float, end: float) -> float | None:
    """Joules over [start, end] by the trapezoid rule over the samples, linearly interpolated at the ends;
    None unless samples surround the window (a window the samples do not cover is not measured)."""
    order = np.argsort(t)
    t, watts = np.asarray(t, dtype=float)[order], np.asarray(watts, dtype=float)[order]
    if len(t) < 2 or t[0] > start or t[-1] < end or end <= start:
        return None
    inside = (t > start) & (t < end)
    times = np.concatenate([[start], t[inside], [end]])
    power = np.concatenate([[_at(t, watts, start)], watts[inside], [_at(t, watts, end)]])
    return float(np.sum((power[1:] + power[:-1]) / 2 * np.diff(times)))


def counter_delta(t: np.ndarray, joules: np.ndarray, start: float, end: float) -> float | None:
    """A cumulative energy counter's increase over [start, end], interpolated at the ends; None unless
    samples surround the window."""
    order = np.argsort(t)
    t, joules = np.asarray(t, dtype=float)[order], np.asarray(joules, dtype=float)[order]
    if len(t) < 2 or t[0] > start or t[-1] < end or end <= start:
        return None
    return _at(t, joules, end) - _at(t, joules, start)


@dataclass(frozen=True)
class Energy:
    joules: float  # what is reported: the counters where every board has one, else the integral
    source: str  # "counter" or "power"
    integrated: float | None  # the power integral, for the check
    counter: float | None

    @property
    def agreement(self) -> float | None:
        """counter / integral (1.0: they agree)."""
        if self.counter is None or not self.integrated:
            return None
        return self.counter / self.integrated


def window_energy(telemetry: pd.DataFrame | None, start: float, end: float) -> Energy | None:
    """All GPUs' energy over [start, end] (wall-clock seconds); None without power samples covering it."""
    if telemetry is None or telemetry.empty:
        return None
    gpus = telemetry[telemetry["source"].astype(str).str.startswith("gpu")]
    integrated: list[float | None] = []
    counters: list[float | None] = []
    for _, rows in gpus.groupby("source"):
        power = rows[rows["metric"] == POWER]
        counter = rows[rows["metric"] == COUNTER]
        if power.empty and counter.empty:
            continue
        integrated.append(integrate_power(power["t"].to_numpy(), power["value"].to_numpy(), start, end)
                          if not power.empty else None)
        counters.append(counter_delta(counter["t"].to_numpy(), counter["value"].to_numpy(), start, end)
                        if not counter.empty else None)
    if not integrated:
        return None
    total_power = None if any(v is None for v in integrated) else sum(v for v in integrated if v is not None)
    total_counter = None if any(v is None for v in counters) else sum(v for v in counters if v is not None)
    if total_counter is not None:
        return Energy(total_counter, "counter", total_power, total_counter)
    if total_power is not None:
        return Energy(total_power, "power", total_power, None)
    return None


def level_energy(telemetry: pd.DataFrame | None, start: float, end: float, output_tokens: int,
                 requests: int) -> dict[str, float | str | None]:
    """A level's energy keys for the report (None where not measured)."""
    found = window_energy(telemetry, start, end)
    if found is None:
        return {"harness_energy_j": None, "harness_joules_per_output_token": None,
                "harness_joules_per_request": None}
    out: dict[str, float | str | None] = {}
    if found.agreement is not None and abs(found.agreement - 1) > AGREEMENT:
        out["harness_energy_note"] = (f"the boards' energy counters and their integrated power differ by "
                                      f"{found.agreement - 1:+.0%} over this level (a sampling gap, or a counter "
                                      "of another scope); the counters are reported")
    return out | {"harness_energy_j": found.joules, "harness_energy_source": found.source,
            "harness_energy_counter_vs_power": found.agreement,
            "harness_mean_power_w": found.joules / (end - start),
            "harness_joules_per_output_token": found.joules / output_tokens if output_tokens else None,
            "harness_joules_per_request": found.joules / requests if requests else None}
