"""`vllm-harness plan` for each shipped variant: what it says must be what the run would do, so these
check the rendered docker commands (NVIDIA device requests, AMD devices and groups, mounts, env,
PYTHONPATH, the stack's networks and gateway) and that the renderer covers every setting run_kwargs
makes."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.image.plan import container_argv, plan_lines
from harness.redact import MASK
from harness.server.docker_run import run_kwargs
from harness.spec.variant import load_variant

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "images"
GROUPS = {"video": 44, "render": 109}


def plan(name: str, host_env: dict[str, str] | None = None) -> list[str]:
    return plan_lines(load_variant(IMAGES, name), host_env=host_env or {}, group_ids=GROUPS, client=None)


def command(lines: list[str], verb: str) -> list[str]:
    """The one `docker <verb>` line of a plan, split as the shell would."""
    (line,) = [line for line in lines if line.startswith(f"docker {verb} ")]
    return shlex.split(line)


def options(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_renderer_covers_every_docker_setting(tmp_path: Path) -> None:
    for name in ("rocm", "nemotron", "cpu-tiny"):
        kwargs = run_kwargs(load_variant(IMAGES, name), "img", host_env={}, group_ids=GROUPS)
        assert container_argv(kwargs, set())[-1] != ""  # renders without a KeyError
    with pytest.raises(KeyError, match="restart_policy"):
        container_argv({"name": "n", "image": "i", "restart_policy": {"Name": "always"}}, set())


def test_nemotron_plan_nvidia_gpu_mounts_pythonpath_and_flags() -> None:
    lines = plan("nemotron")
    run = command(lines, "run")
    assert options(run, "--gpus") == ["1"]
    assert "PYTHONPATH=/vllm-workspace" in options(run, "--env")
    volumes = options(run, "--volume")
    assert f"{IMAGES / 'nemotron' / 'logits_processors'}:/vllm-workspace:ro" in volumes
    image = run.index(next(a for a in run if a.startswith("local/vllm-openai:")))
    served = run[image + 1:]
    assert served[0] == "nvidia/NVIDIA-Nemotron-Parse-v1.2" and "--trust-remote-code" in served
    assert served[served.index("--logits-processors") + 1].startswith("nemotron_logits")
    build = command(lines, "build")
    assert build[-1] == str(IMAGES / "nemotron")
    dockerfile = (IMAGES / "nemotron" / "Dockerfile").read_text()
    assert "ARG VLLM_VERSION=v0.14.1\nFROM vllm/vllm-openai:${VLLM_VERSION}" in dockerfile
    assert options(build, "--build-arg") == ["VLLM_VERSION=v0.14.1"]


def test_nemotron_known_issue_names_the_image_sensitivity_checks() -> None:
    variant = load_variant(IMAGES, "nemotron")
    checks = {issue.check for issue in variant.known_issues}
    suite = (REPO / "suites" / "test_multimodal.py").read_text()
    assert "test_distinct_images_give_distinct_answers" in checks
    for check in checks:  # each entry names a check that exists, or it would never run as an xfail
        assert f"def {check}(" in suite, check
    assert all("all-white" in issue.reason and "EngineCore" in issue.reason for issue in variant.known_issues)
    assert any("mean=238.4" in issue.reason and "mean=1.0" in issue.reason for issue in variant.known_issues)


def test_nvidia_all_gpus_for_the_nanonets_stack_replica() -> None:
    lines = plan("nanonets-ocr")
    (replica,) = [shlex.split(line) for line in lines if line.startswith("docker create") and "replica-0" in line]
    assert options(replica, "--gpus") == ["all"]
    assert not options(replica, "--publish") and not options(replica, "--add-host")
    # the gateway is nginx:alpine as given, never a build of the folder's vLLM Dockerfile
    assert len([line for line in lines if line.startswith("docker build")]) == 1
    assert "# nanonets-ocr-gateway: prebuilt image nginx:alpine (pulled if the engine lacks it)" in lines
    (gateway,) = [shlex.split(line) for line in lines if line.startswith("docker create") and "-gateway " in line]
    assert gateway[-1] == "nginx:alpine"


def test_rocm_plan_amd_devices_groups_shm_and_env() -> None:
    run = command(plan("rocm"), "run")
    assert options(run, "--device") == ["/dev/kfd:/dev/kfd:rwm", "/dev/dri:/dev/dri:rwm"]
    assert options(run, "--group-add") == ["44", "109"]
    assert options(run, "--shm-size") == ["16g"]
    assert not options(run, "--gpus")
    env = dict(e.split("=", 1) for e in options(run, "--env"))
    assert env["HIP_VISIBLE_DEVICES"] == "0" and env["HSA_OVERRIDE_GFX_VERSION"] == "11.0.0"
    assert env["VLLM_GPU_MEMORY_UTILIZATION"] == "0.45" and env["VLLM_MAX_MODEL_LEN"] == "32768"
    assert "VLLM_PORT" not in env  # vLLM reads VLLM_PORT as its internal port: see serve_from_env.sh


def test_secrets_are_masked_in_the_plan() -> None:
    lines = plan("qwen2.5-vl-7b-awq", host_env={"HF_TOKEN": "hf_abcdefgh12345"})
    text = "\n".join(lines)
    assert "hf_abcdefgh12345" not in text
    assert f"HF_TOKEN={MASK}" in options(command(lines, "run"), "--env")


def test_qwen_variants_share_one_image_and_keep_the_seed_settings() -> None:
    awq, small = plan("qwen2.5-vl-7b-awq"), plan("qwen2-vl-2b")
    awq_run, small_run = command(awq, "run"), command(small, "run")
    assert awq_run[awq_run.index("--served-model-name") + 1] == "qwen2.5-vl-7b-awq"
    assert small_run[small_run.index("--served-model-name") + 1] == "qwen2-vl-2b"
    for run in (awq_run, small_run):
        assert run[run.index("--max-model-len") + 1] == "4096" and "--max-num-seqs" in run
    assert "--enforce-eager" in awq_run and "--enforce-eager" not in small_run
    assert command(awq, "build")[5] == command(small, "build")[5]  # the same tag: one image
    assert load_variant(IMAGES, "qwen2.5-vl-7b-awq").load.slo.max_gpu_memory_gib == 16


def test_cpu_stack_plan_internal_network_replicas_and_only_the_gateway_published() -> None:
    lines = plan("cpu-tiny-gateway")
    network = command(lines, "network create")
    assert "--internal" in network
    creates = [shlex.split(line) for line in lines if line.startswith("docker create")]
    assert len(creates) == 3
    *replicas, gateway = creates
    for replica in replicas:
        assert options(replica, "--network") == [network[-1]] and not options(replica, "--publish")
        assert replica[replica.index("--served-model-name") + 1] == "cpu-tiny"
    assert options(gateway, "--publish") == ["127.0.0.1::80"]
    assert f"docker network connect {network[-1]} {options(gateway, '--name')[0]}" in lines
    conf = "\n".join(lines[lines.index("# --- /etc/nginx/nginx.conf in the gateway ---"):])
    for needle in ("least_conn;", "client_max_body_size 50m;", "proxy_read_timeout 300s;",
                   "location = /health", "location /v1", "location = /metrics"):
        assert needle in conf
    for replica in replicas:
        assert f"server {options(replica, '--name')[0]}:8000" in conf
    # the replicas run the cpu-tiny image itself, the one cpu-tiny's build line makes
    tag = shlex.split(next(line for line in lines if line.startswith("docker build")))[5]
    assert tag.startswith("vllm-harness/cpu-tiny:") and all(tag in replica for replica in replicas)


def test_plan_cli_needs_no_engine() -> None:
    env = {"DOCKER_HOST": "tcp://127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "harness", "--images-dir", str(IMAGES), "plan", "nightly"],
                            capture_output=True, text=True, env=env, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "docker run" in result.stdout and "--gpus 1" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "harness", "--images-dir", str(IMAGES), "plan", "no-such"],
                         capture_output=True, text=True, env=env, timeout=60, cwd=REPO)
    assert bad.returncode == 2 and "unknown image variant 'no-such'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_rocm_telemetry_asks_amdsmi_not_nvml() -> None:
    from harness.telemetry.gpu import open_gpu_sampler

    vendor = load_variant(IMAGES, "rocm").gpu.vendor
    sampler, why = open_gpu_sampler(vendor)  # what the load runner asks for this variant
    assert vendor == "amd"
    if sampler is None:  # no ROCm here: the reason names amdsmi, never NVML
        assert "amdsmi" in why and "nvml" not in why.lower()
    else:
        assert sampler.name == "amdsmi"
