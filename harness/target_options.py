"""The target options, declared once: the pytest plugin (`pytest suites/ --base-url ...`) and the CLI
(`vllm-harness load --base-url ...`) add the same flags with the same help, defaults and parsing.

`add(add_option, "base-url", ...)` takes either `argparse.ArgumentParser.add_argument` or pytest's
`OptionGroup.addoption`: both accept argparse's keywords.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.server.launch import RUNTIMES
from harness.spec.variant import capability_names


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got '{text}'")
    return value


def build_arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. VLLM_VERSION=v0.15.0), got '{text}'")
    return key.strip(), value


def env_default(name: str) -> str | None:
    """An option's default from the environment, read when options are added (so a caller's env counts)."""
    return os.environ.get(name)


def _options() -> dict[str, dict[str, Any]]:
    env = env_default
    return {
        "image": dict(default=env("VLLM_HARNESS_IMAGE"), metavar="NAME",
                      help="image variant under images/ to build, boot and test (env VLLM_HARNESS_IMAGE)"),
        "base-url": dict(default=env("VLLM_HARNESS_BASE_URL"), metavar="URL",
                         help="test a server that is already running (its root or /v1 URL; env VLLM_HARNESS_BASE_URL)"),
        "model": dict(default=None, help="with --base-url: the served model name (default: the first)"),
        "api-key": dict(default=env("VLLM_HARNESS_API_KEY"),
                        help="with --base-url: the server's API key (env VLLM_HARNESS_API_KEY; never logged)"),
        "capabilities": dict(default=None, metavar="LIST",
                             help=f"with --base-url: what the server can do, e.g. chat,vision,multi_image=4 "
                                  f"(known: {', '.join(capability_names())})"),
        "runtime": dict(choices=RUNTIMES, default="docker", help="how the variant is run (default docker)"),
        "images-dir": dict(type=Path, default=None, help="the variant folders (default ./images)"),
        "reports-dir": dict(type=Path, default=Path("reports"), help="where runs are written (default ./reports)"),
        "rebuild": dict(action="store_true", help="rebuild the image even if its content is unchanged"),
        "build-arg": dict(type=build_arg, action="append", default=[], metavar="KEY=VALUE",
                          help="a build arg over the variant's build.args, e.g. VLLM_VERSION=v0.15.0 (repeatable)"),
        "startup-timeout": dict(type=positive_float, default=None, metavar="SECONDS",
                                help="override the variant's container.startup_timeout"),
    }


NAMES = tuple(_options())


# what picks the target itself: the CLI names its target on the command line, so an environment exported
# for pytest must not turn `vllm-harness load NAME` into a run against some URL
TARGET_FROM_ENV = ("image", "base-url")


def add(add_option: Callable[..., Any], *names: str, target_from_env: bool = True) -> None:
    """Add the named target options (all of them when none is named)."""
    options = _options()
    for name in names or NAMES:
        option = dict(options[name])
        if not target_from_env and name in TARGET_FROM_ENV:
            option["default"] = None
            option["help"] = re.sub(r"; env \w+| \(env \w+\)", "", option["help"])
        add_option(f"--{name}", **option)
