"""Make the two models gpu-vllm and gpu-vllm-7b serve, in OUT_DIR (their $GPU_VLLM_MODELS):

    OUT_DIR/tiny-llava       cpu-tiny's random LLaVA (build_tiny_llava.py, seeded: the same files every time)
    OUT_DIR/dummy-llama-7b   a 7B-shaped Llama config.json beside tiny-llava's tokenizer; no weights:
                             vLLM's `--load-format dummy` fills them at random on the GPU

CPU only, seconds. Needs torch and transformers (5.x), as build_tiny_llava.py does.
Usage: PYTHONPATH=$VLLM_ENVS/VERSION python3 prepare_models.py OUT_DIR
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD_TINY = HERE.parent / "cpu-tiny" / "build_tiny_llava.py"

# Llama-2-7B's shape; vocab and specials follow the tiny tokenizer so token ids stay in range
LLAMA_7B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "dtype": "bfloat16", "torch_dtype": "bfloat16",
    "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 32, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "hidden_act": "silu", "tie_word_embeddings": False,
}


def dummy_llama(tiny: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tok_config = json.loads((tiny / "tokenizer_config.json").read_text())
    # the LLaVA processor is no part of a text model: with processor_class set, vLLM would look for it
    tok_config.pop("processor_class", None)
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2))
    for name in ("tokenizer.json", "special_tokens_map.json", "chat_template.jinja"):
        if (tiny / name).exists():
            shutil.copy(tiny / name, out / name)
    text = json.loads((tiny / "config.json").read_text()).get("text_config", {})
    config = {**LLAMA_7B, "vocab_size": text.get("vocab_size", 1024),
              **{k: text[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if k in text}}
    (out / "config.json").write_text(json.dumps(config, indent=2))


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1]).resolve()
    tiny = out / "tiny-llava"
    if not (tiny / "config.json").exists():
        subprocess.run([sys.executable, str(BUILD_TINY), str(tiny)], check=True)
    dummy_llama(tiny, out / "dummy-llama-7b")
    print(f"models in {out}: tiny-llava, dummy-llama-7b (set GPU_VLLM_MODELS={out})")


if __name__ == "__main__":
    main()
