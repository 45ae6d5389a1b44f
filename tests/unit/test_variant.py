from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness.errors import SpecError, UnknownVariant, UsageError
from harness.image.build import gateway_recipe, image_source, recipe_of
from harness.spec.variant import Capabilities, load_variant, parse_spec, variant_names

REPO_IMAGES = Path(__file__).resolve().parents[2] / "images"

MINIMAL = """
[serve]
model = "/models/m"
served_model_name = "m"
"""


def write_spec(tmp_path: Path, text: str, name: str = "v") -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "variant.toml").write_text(text)
    return folder / "variant.toml"


def test_minimal_spec_gets_defaults(tmp_path: Path) -> None:
    variant = parse_spec(write_spec(tmp_path, MINIMAL))
    assert variant.name == "v"
    assert variant.serve.model == "/models/m"
    assert variant.gpu.vendor == "none"
    assert variant.container.port == 8000
    assert variant.container.health_path == "/health"
    assert variant.capabilities.chat and not variant.capabilities.vision


def test_full_spec_round_trip(tmp_path: Path) -> None:
    spec = MINIMAL + """
max_model_len = 4096
gpu_memory_utilization = 0.75
enforce_eager = true
extra_args = ["--max-num-seqs", 16]
[env]
PYTHONPATH = "/vllm-workspace"
[[mounts]]
source = "~/.cache/huggingface"
target = "/root/.cache/huggingface"
[[mounts]]
source = "processors"
target = "/vllm-workspace"
read_only = false
[gpu]
vendor = "nvidia"
devices = ["0", "1"]
[container]
shm_size = "16g"
startup_timeout = 900
[capabilities]
vision = true
multi_image = 4
encoder_decoder = true
"""
    v = parse_spec(write_spec(tmp_path, spec))
    assert v.serve.max_model_len == 4096 and v.serve.gpu_memory_utilization == 0.75
    assert v.serve.extra_args == ("--max-num-seqs", "16")
    assert v.env == {"PYTHONPATH": "/vllm-workspace"}
    assert [m.read_only for m in v.mounts] == [True, False]
    assert v.gpu.devices == ("0", "1")
    assert v.container.startup_timeout == 900.0
    assert v.capabilities.has("multi_image") and v.capabilities.multi_image == 4
    assert v.capabilities.has("encoder_decoder") and not v.capabilities.has("audio")


@pytest.mark.parametrize(
    ("extra", "field", "fragment"),
    [
        ("[gpu]\nvendor = 'intel'", "gpu.vendor", "nvidia, amd, none"),
        ("[serve2]\nx = 1", "serve2", "allowed: description, build"),
        ("[container]\nport = 'eight'", "container.port", "must be int"),
        ("[container]\nport = 70000", "container.port", "1-65535"),
        ("[container]\nhealth_path = 'health'", "container.health_path", "start with '/'"),
        ("[capabilities]\nvison = true", "capabilities.vison", "unknown key"),
        ("[capabilities]\nvision = 1", "capabilities.vision", "must be bool"),
        ("[gpu]\ncount = 0", "gpu.count", "positive"),
    ],
)
def test_malformed_spec_names_file_field_and_allowed(tmp_path: Path, extra: str, field: str, fragment: str) -> None:
    path = write_spec(tmp_path, MINIMAL + extra)
    with pytest.raises(SpecError) as info:
        parse_spec(path)
    message = str(info.value)
    assert str(path) in message and f"'{field}'" in message and fragment in message
    assert "\n" not in message


def test_out_of_range_serve_value(tmp_path: Path) -> None:
    spec = MINIMAL.replace('served_model_name = "m"', 'served_model_name = "m"\ngpu_memory_utilization = 1.5')
    with pytest.raises(SpecError, match=r"serve.gpu_memory_utilization.*\(0, 1\]"):
        parse_spec(write_spec(tmp_path, spec))


def test_missing_required_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"'serve\.served_model_name': is required"):
        parse_spec(write_spec(tmp_path, '[serve]\nmodel = "m"\n'))
    with pytest.raises(SpecError, match="not valid TOML"):
        parse_spec(write_spec(tmp_path, "[serve\n", name="broken"))


def test_unknown_variant_lists_the_known_ones(tmp_path: Path) -> None:
    write_spec(tmp_path, MINIMAL, name="alpha")
    write_spec(tmp_path, MINIMAL, name="beta")
    (tmp_path / "not-a-variant").mkdir()
    assert variant_names(tmp_path) == ["alpha", "beta"]
    with pytest.raises(UnknownVariant, match="unknown image variant 'gamma'; variants are: alpha, beta"):
        load_variant(tmp_path, "gamma")


def test_capabilities_flag_parsing() -> None:
    caps = Capabilities.parse("chat, vision,multi_image=3")
    assert caps.chat and caps.vision and caps.multi_image == 3 and not caps.completions
    assert caps.enabled() == ["chat", "vision", "multi_image=3"]
    with pytest.raises(UsageError, match="unknown 'telepathy'"):
        Capabilities.parse("chat,telepathy")
    with pytest.raises(UsageError, match="multi_image needs a count"):
        Capabilities.parse("multi_image")


def test_every_shipped_variant_parses() -> None:
    names = variant_names(REPO_IMAGES)
    assert "cpu-tiny" in names
    for name in names:
        variant = load_variant(REPO_IMAGES, name)
        process_only = variant.process.args is not None or variant.process.only
        recipe = recipe_of(image_source(variant))  # build.variant: the sibling's image
        assert recipe.dockerfile_path.is_file() or recipe.prebuilt or process_only, name
        if variant.stack is not None:
            gateway = gateway_recipe(variant)
            assert gateway.dockerfile_path.is_file() or gateway.prebuilt, name


def test_readme_example_spec_is_valid(tmp_path: Path) -> None:
    readme = (REPO_IMAGES.parent / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    variant = parse_spec(write_spec(tmp_path, example, name="qwen"))
    assert variant.gpu.vendor == "nvidia" and variant.secret_env == ("HF_TOKEN",)
    assert variant.capabilities.multi_image == 4


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        # an unknown key, also where the misspelling leaves a required key missing
        ("[serve]\nmodel = 'm'\nserved_model_nam = 'm'\n", "serve.served_model_nam", "unknown key; allowed: model,"),
        (MINIMAL + "[[mounts]]\nsource = 'a'\ntarget = 'b'\nreadonly = true\n", "mounts[0].readonly",
         "unknown key; allowed: source, target, read_only"),
        # a wrong type, at the root, in a list, in a table of text
        ("description = 3\n" + MINIMAL, "description", "must be str, got 3"),
        ("secret_env = ['A', true]\n" + MINIMAL, "secret_env[1]", "must be str, got True"),
        (MINIMAL + "[env]\nA = [1]\n", "env.A", "must be str"),
        (MINIMAL + "[load]\nconcurrency = 4\n", "load.concurrency", "must be a list, got 4"),
        ("serve = 3\n", "serve", "must be a table"),
        # a value outside its enum or range
        (MINIMAL + "[load]\nkinds = ['chat', 'smell']\n", "load.kinds[1]",
         "one of chat, vision, video, audio, completions"),
        (MINIMAL + "[load]\nconcurrency = [0]\n", "load.concurrency[0]", "must be a positive integer, got 0"),
        (MINIMAL + "[load.slo]\np99_ttft_ms = -1\n", "load.slo.p99_ttft_ms", ">= 0, got -1"),
        (MINIMAL + "[process]\ncommand = []\n", "process.command", "non-empty list"),
        # a missing required key, with what it must be
        ("description = 'x'\n", "serve", "is required: a table with at least model and served_model_name"),
        (MINIMAL + "[[mounts]]\nsource = 'a'\n", "mounts[0].target", "is required"),
        # the loader's own keys are not the spec's
        ("name = 'x'\n" + MINIMAL, "name", "a variant's name is its folder's name"),
    ],
)
def test_each_kind_of_mistake_is_one_line(tmp_path: Path, text: str, field: str, problem: str) -> None:
    path = write_spec(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        parse_spec(path)
    message = str(caught.value)
    assert caught.value.field == field and problem in message, message
    assert message.startswith(f"{path}: field '{field}': ") and "\n" not in message


def test_schema_file_is_current_and_accepts_every_spec() -> None:
    import json

    import jsonschema

    from harness.spec import variant_schema

    committed = REPO_IMAGES / variant_schema.SCHEMA_FILE
    assert committed.read_text() == variant_schema.text(), "stale: run `python -m harness.spec.variant_schema`"
    checker = jsonschema.Draft202012Validator(json.loads(committed.read_text()))
    specs = [*REPO_IMAGES.glob("*/variant.toml"), *(REPO_IMAGES.parent / "tests" / "fixtures").rglob("variant.toml")]
    assert len(specs) > 10
    for path in specs:
        checker.validate(tomllib.loads(path.read_text()))
    with pytest.raises(jsonschema.ValidationError):  # an editor flags what the loader refuses
        checker.validate(tomllib.loads(MINIMAL + "[container]\nport = 70000\n"))
