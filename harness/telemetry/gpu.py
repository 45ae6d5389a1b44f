"""GPU samplers. Each returns rows (t, source, metric, value); a host without a GPU or without the
vendor library gets no sampler and the run goes on with telemetry "none"."""

from __future__ import annotations

import contextlib
import time
from typing import Any, Protocol

from harness.errors import EnvironmentProblem
from harness.server.gpu_libs import load

Row = tuple[float, str, str, float]


class Sampler(Protocol):
    name: str
    finished: bool

    def sample(self) -> list[Row]: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class NvmlSampler:
    name = "nvml"
    finished = False

    def __init__(self) -> None:
        self.nvml = load("pynvml")
        try:
            self.nvml.nvmlInit()
        except self.nvml.NVMLError as exc:
            raise EnvironmentProblem(f"NVML did not initialise ({exc}): no NVIDIA driver here") from None
        count = self.nvml.nvmlDeviceGetCount()
        if count == 0:
            self.nvml.nvmlShutdown()
            raise EnvironmentProblem("NVML sees no NVIDIA GPU")
        self.handles = [self.nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]

    def describe(self) -> dict[str, Any]:
        nvml = self.nvml
        return {
            "backend": "nvml",
            "driver": _text(nvml.nvmlSystemGetDriverVersion()),
            "devices": [{"index": i, "name": _text(nvml.nvmlDeviceGetName(h)),
                         "memory_total_bytes": int(nvml.nvmlDeviceGetMemoryInfo(h).total)}
                        for i, h in enumerate(self.handles)],
        }

    def sample(self) -> list[Row]:
        nvml, rows = self.nvml, []
        for i, handle in enumerate(self.handles):
            t, source = time.time(), f"gpu{i}"
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            rows += [(t, source, "memory_used_bytes", float(memory.used)),
                     (t, source, "memory_total_bytes", float(memory.total))]
            rows.append((t, source, "utilization_pct", float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)))
            with contextlib.suppress(nvml.NVMLError):  # not every board reports power
                rows.append((t, source, "power_w", nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0))
            with contextlib.suppress(nvml.NVMLError):  # Volta and newer: millijoules since the driver loaded
                rows.append((t, source, "energy_j", nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0))
            try:
                processes = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            except nvml.NVMLError:
                processes = []  # per-process memory is hidden in some containers
            for process in processes:
                used = process.usedGpuMemory
                if used is not None:
                    rows.append((t, source, f"process_memory_bytes:{process.pid}", float(used)))
        return rows

    def close(self) -> None:
        self.nvml.nvmlShutdown()


class AmdSmiSampler:
    name = "amdsmi"
    finished = False

    def __init__(self) -> None:
        self.amdsmi = load("amdsmi")
        try:
            self.amdsmi.amdsmi_init()
            self.handles = list(self.amdsmi.amdsmi_get_processor_handles())
        except Exception as exc:  # amdsmi raises its own AmdSmiException types
            raise EnvironmentProblem(f"amdsmi did not initialise ({exc}): no ROCm GPU here") from None
        if not self.handles:
            raise EnvironmentProblem("amdsmi sees no AMD GPU")

    def describe(self) -> dict[str, Any]:
        devices = []
        for i, handle in enumerate(self.handles):
            info = self.amdsmi.amdsmi_get_gpu_asic_info(handle)
            vram = self.amdsmi.amdsmi_get_gpu_vram_usage(handle)
            devices.append({"index": i, "name": info.get("market_name", "AMD GPU"),
                            "memory_total_bytes": int(vram["vram_total"]) * 2**20})
        driver = self.amdsmi.amdsmi_get_gpu_driver_info(self.handles[0]).get("driver_version", "")
        return {"backend": "amdsmi", "driver": driver, "devices": devices}

    def sample(self) -> list[Row]:
        rows: list[Row] = []
        for i, handle in enumerate(self.handles):
            t, source = time.time(), f"gpu{i}"
            vram = self.amdsmi.amdsmi_get_gpu_vram_usage(handle)  # MiB
            rows += [(t, source, "memory_used_bytes", float(vram["vram_used"]) * 2**20),
                     (t, source, "memory_total_bytes", float(vram["vram_total"]) * 2**20)]
            activity = self.amdsmi.amdsmi_get_gpu_activity(handle)
            rows.append((t, source, "utilization_pct", float(activity.get("gfx_activity", 0))))
            rows += self._energy(t, source, handle)
        return rows

    def _energy(self, t: float, source: str, handle: Any) -> list[Row]:
        """Socket power (W) and the energy accumulator (J), where this board and amdsmi report them."""
        rows: list[Row] = []
        with contextlib.suppress(Exception):  # amdsmi raises its own types; older boards lack either
            power = self.amdsmi.amdsmi_get_power_info(handle)
            watts = power.get("current_socket_power", power.get("average_socket_power"))
            if isinstance(watts, int | float):
                rows.append((t, source, "power_w", float(watts)))
        with contextlib.suppress(Exception):
            energy = self.amdsmi.amdsmi_get_energy_count(handle)
            count = energy.get("energy_accumulator", energy.get("power"))
            rows.append((t, source, "energy_j", float(count) * float(energy["counter_resolution"]) / 1e6))
        return rows

    def close(self) -> None:
        self.amdsmi.amdsmi_shut_down()


def open_gpu_sampler(vendor: str | None = None) -> tuple[Sampler | None, str]:
    """The sampler for this host's GPUs, or None and why not. `vendor` narrows the search."""
    candidates: list[type[NvmlSampler] | type[AmdSmiSampler]] = []
    if vendor in (None, "nvidia", "none"):
        candidates.append(NvmlSampler)
    if vendor in (None, "amd", "none"):
        candidates.append(AmdSmiSampler)
    reasons = []
    for candidate in candidates:
        try:
            return candidate(), ""
        except EnvironmentProblem as exc:
            reasons.append(str(exc))
    return None, "; ".join(reasons)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
