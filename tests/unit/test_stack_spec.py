"""The spec's [stack] table and build.variant/context: read strictly, each mistake one line naming the
file and the field; and every shipped spec through the loader users run."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.image.build import image_source
from harness.server.stack import OFFLINE_OPTIONS, stack_layout
from harness.spec.variant import load_all, parse_spec

REPO_IMAGES = Path(__file__).resolve().parents[2] / "images"
SERVE = '[serve]\nmodel = "m"\nserved_model_name = "s"\n'


def spec(tmp_path: Path, text: str, name: str = "v") -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "variant.toml").write_text(SERVE + text)
    return folder / "variant.toml"


@pytest.mark.parametrize(("text", "field", "problem"), [
    ("[stack]\nreplicas = 2\n", "stack.gateway", "is required"),
    ("[stack]\nreplicas = 0\n[stack.gateway]\nimage = 'nginx'\n", "stack.replicas", "at least 1"),
    ("[stack]\nreplica = 2\n[stack.gateway]\nimage = 'nginx'\n", "stack.replica", "unknown key"),
    ("[stack]\noffline = 'yes'\n[stack.gateway]\nimage = 'nginx'\n", "stack.offline", "must be bool"),
    ("[stack]\ngateway_port = 70000\n[stack.gateway]\nimage = 'nginx'\n", "stack.gateway_port", "TCP port"),
    ("[stack]\n[stack.gateway]\nvariant = 'cpu-tiny'\n", "stack.gateway.variant", "nginx image"),
    ("[build]\nvariant = 'a'\ndockerfile = 'Dockerfile'\n", "build.variant", "one of dockerfile, image or variant"),
    ("[build]\nvariant = 'a'\nimage = 'x'\n", "build.variant", "one of dockerfile, image or variant"),
    ("[build]\ncontext = '../elsewhere'\n", "build.context", "inside the variant folder"),
])
def test_stack_and_build_mistakes_are_one_line(tmp_path: Path, text: str, field: str, problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(spec(tmp_path, text))
    message = str(caught.value)
    assert caught.value.field == field and problem in message and "\n" not in message


def test_build_variant_names_a_sibling_and_no_chain(tmp_path: Path) -> None:
    spec(tmp_path, "", name="base")
    spec(tmp_path, "[build]\nvariant = 'base'\n", name="user")
    spec(tmp_path, "[build]\nvariant = 'user'\n", name="chain")
    assert image_source(parse_spec(tmp_path / "user" / "variant.toml")).name == "base"
    with pytest.raises(SpecError, match="takes its image from another variant itself"):
        image_source(parse_spec(tmp_path / "chain" / "variant.toml"))


def test_every_shipped_spec_loads_through_the_users_loader() -> None:
    variants = {v.name: v for v in load_all(REPO_IMAGES)}
    for name in ("nightly", "nightly-deepseek-ocr-2", "nightly-lighton-ocr", "nightly-qwen-chat", "nemotron",
                 "qwen2.5-vl-7b-awq", "qwen2-vl-2b", "rocm", "nanonets-ocr", "cpu-tiny-gateway"):
        assert name in variants, name
    for variant in variants.values():
        image_source(variant)  # a build.variant names a real sibling
    assert variants["nanonets-ocr"].stack and variants["nanonets-ocr"].stack.offline
    assert variants["cpu-tiny-gateway"].stack and variants["cpu-tiny-gateway"].stack.replicas == 2


def test_offline_layout_uses_an_internal_network_without_a_host_address() -> None:
    variant = next(v for v in load_all(REPO_IMAGES) if v.name == "cpu-tiny-gateway")
    layout = stack_layout(variant, "img", "gw", host_env={})
    kwargs = layout.network.create_kwargs()
    assert kwargs["internal"] is True and kwargs["options"] == OFFLINE_OPTIONS
    assert [c.role for c in layout.containers] == ["replica-0", "replica-1", "gateway"]
    assert all("ports" not in r.kwargs and r.kwargs["network"] == layout.network.name for r in layout.replicas)
