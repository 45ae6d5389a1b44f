from __future__ import annotations

from pathlib import Path

from harness.server.docker_run import run_kwargs
from harness.server.labels import OWNER, SESSION, SESSION_ID
from harness.server.serve_command import serve_args
from harness.spec.variant import parse_spec

BASE = """
[serve]
model = "/models/m"
served_model_name = "served"
max_model_len = 4096
gpu_memory_utilization = 0.8
enforce_eager = true
trust_remote_code = true
extra_args = ["--max-num-seqs", "8"]
[container]
port = 8001
shm_size = "2g"
[env]
PYTHONPATH = "/vllm-workspace"
[[mounts]]
source = "processors"
target = "/vllm-workspace"
"""


def variant_with(tmp_path: Path, extra: str = "", secret: str = ""):  # type: ignore[no-untyped-def]
    folder = tmp_path / "v"
    folder.mkdir(exist_ok=True)
    (folder / "variant.toml").write_text(secret + BASE + extra)
    return parse_spec(folder / "variant.toml")


def test_serve_args_carry_every_setting(tmp_path: Path) -> None:
    args = serve_args(variant_with(tmp_path).serve, port=8001)
    assert args[0] == "/models/m"
    pairs = dict(zip(args[1::2], args[2::2], strict=False))
    assert pairs["--served-model-name"] == "served"
    assert args[args.index("--max-model-len"):][:2] == ["--max-model-len", "4096"]
    assert args[args.index("--gpu-memory-utilization"):][:2] == ["--gpu-memory-utilization", "0.8"]
    assert "--enforce-eager" in args and "--trust-remote-code" in args
    assert args[-2:] == ["--max-num-seqs", "8"]


def test_cpu_variant_has_no_device_settings(tmp_path: Path) -> None:
    kwargs = run_kwargs(variant_with(tmp_path), "img:1", host_env={})
    assert "device_requests" not in kwargs and "devices" not in kwargs and "group_add" not in kwargs
    assert kwargs["ports"] == {"8001/tcp": ("127.0.0.1", None)}
    assert kwargs["shm_size"] == "2g"
    assert kwargs["labels"][SESSION] == SESSION_ID and kwargs["labels"][OWNER]
    assert kwargs["environment"] == {"PYTHONPATH": "/vllm-workspace"}
    assert kwargs["volumes"] == {str(tmp_path / "v" / "processors"): {"bind": "/vllm-workspace", "mode": "ro"}}
    assert kwargs["extra_hosts"] == {"host.docker.internal": "host-gateway"}


def test_nvidia_all_gpus_and_explicit_devices(tmp_path: Path) -> None:
    request = run_kwargs(variant_with(tmp_path, "[gpu]\nvendor = 'nvidia'\n"), "i", host_env={})["device_requests"][0]
    assert request["Driver"] == "nvidia" and request["Count"] == -1 and request["Capabilities"] == [["gpu"]]
    pinned = variant_with(tmp_path, "[gpu]\nvendor = 'nvidia'\ndevices = ['1', '3']\n")
    request = run_kwargs(pinned, "i", host_env={})["device_requests"][0]
    assert request["DeviceIDs"] == ["1", "3"] and not request.get("Count")


def test_amd_gets_kfd_dri_groups_by_gid_and_visible_devices(tmp_path: Path) -> None:
    variant = variant_with(tmp_path, "[gpu]\nvendor = 'amd'\ndevices = ['0']\n")
    kwargs = run_kwargs(variant, "i", host_env={}, group_ids={"video": 44, "render": 109})
    assert kwargs["devices"] == ["/dev/kfd:/dev/kfd:rwm", "/dev/dri:/dev/dri:rwm"]
    assert kwargs["group_add"] == ["44", "109"]
    assert kwargs["environment"]["HIP_VISIBLE_DEVICES"] == "0"
    assert "device_requests" not in kwargs


def test_secrets_and_api_key_travel_in_env_never_in_argv(tmp_path: Path) -> None:
    variant = variant_with(tmp_path, secret='secret_env = ["HF_TOKEN"]\n')
    kwargs = run_kwargs(variant, "i", host_env={"HF_TOKEN": "hf_secret_value"}, api_key="sk-test-key")
    assert kwargs["environment"]["HF_TOKEN"] == "hf_secret_value"
    assert kwargs["environment"]["VLLM_API_KEY"] == "sk-test-key"
    assert not any("sk-test-key" in a or "hf_secret" in a for a in kwargs["command"])
