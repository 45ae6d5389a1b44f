"""GPU management libraries, imported only when a GPU is actually asked about: NVML (nvidia-ml-py) is a
dependency but needs the NVIDIA driver at run time; amdsmi is an optional extra that needs ROCm."""

from __future__ import annotations

import importlib
from types import ModuleType

from harness.errors import EnvironmentProblem

HINTS = {
    "pynvml": "pip install nvidia-ml-py (it needs the NVIDIA driver's libnvidia-ml.so)",
    "amdsmi": "pip install 'vllm-image-harness[amd]' on a ROCm host (it needs ROCm's libraries)",
}


def load(name: str) -> ModuleType:
    """Import `pynvml` or `amdsmi`, turning a missing module or library into one clear line."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise EnvironmentProblem(f"{name} is not available ({exc}); {HINTS[name]}") from None
    except OSError as exc:  # the module is there, its native library is not
        raise EnvironmentProblem(f"{name} is installed but its native library failed to load ({exc}); "
                                 f"{HINTS[name]}") from None
