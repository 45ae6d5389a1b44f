"""vllm-image-harness: build, boot and test vLLM Docker images.

Data flows one way: variant spec (harness.spec.variant) → built image (harness.image.build) → running endpoint
(harness.runtime_*) → results (harness.results) → report. docs/ARCHITECTURE.md maps every module.
"""

from __future__ import annotations

__version__ = "0.1.0"

from harness.errors import BootError, BuildError, HarnessError, UsageError
from harness.server.endpoint import Endpoint
from harness.spec.variant import Capabilities, Variant, load_variant

__all__ = [
    "BootError",
    "BuildError",
    "Capabilities",
    "Endpoint",
    "HarnessError",
    "UsageError",
    "Variant",
    "__version__",
    "load_variant",
]
