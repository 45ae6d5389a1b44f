"""Build a tiny random LoRA adapter (PEFT's on-disk format) for the tiny LLaVA's language model, so the
harness can check vLLM's LoRA routes (/v1/load_lora_adapter, /v1/unload_lora_adapter) for real.

    build_tiny_lora.py MODEL_DIR OUT_DIR

Rank 8 on q_proj and v_proj of every language-model layer. Unlike a fresh PEFT adapter (B = 0, the base
model's answers unchanged), both A and B are random and large enough that greedy answers differ from the
base model's. Seeded: rebuilding yields identical files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

SEED = 20261207
RANK = 8
ALPHA = 16
TARGETS = ("q_proj", "v_proj")
SCALE = 0.5  # A and B entries ~ N(0, SCALE^2): a change the tiny model's greedy answers show


def main() -> None:
    model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    text = json.loads((model_dir / "config.json").read_text())["text_config"]
    hidden, layers = int(text["hidden_size"]), int(text["num_hidden_layers"])
    heads = int(text["num_attention_heads"])
    kv_heads = int(text.get("num_key_value_heads") or heads)
    head_dim = int(text.get("head_dim") or hidden // heads)
    outputs = {"q_proj": heads * head_dim, "v_proj": kv_heads * head_dim}
    generator = torch.Generator().manual_seed(SEED)
    tensors = {}
    for layer in range(layers):
        for target in TARGETS:
            prefix = f"base_model.model.model.language_model.layers.{layer}.self_attn.{target}"
            tensors[f"{prefix}.lora_A.weight"] = torch.randn(RANK, hidden, generator=generator) * SCALE
            tensors[f"{prefix}.lora_B.weight"] = torch.randn(outputs[target], RANK, generator=generator) * SCALE
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "adapter_model.safetensors"),
              metadata={"format": "pt"})
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": str(model_dir),
              "r": RANK, "lora_alpha": ALPHA, "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False,
              "target_modules": list(TARGETS), "modules_to_save": None, "use_rslora": False, "use_dora": False}
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"LoRA adapter: rank {RANK} on {', '.join(TARGETS)} of {layers} layers -> {out}")


if __name__ == "__main__":
    main()
