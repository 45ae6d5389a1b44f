"""Build a random-weight Llama (~0.9 B parameters, bf16) with a locally trained tokenizer into the
Hugging Face cache layout ($HF_HOME/hub/models--local--random-llama), where `transformers serve`
finds and lists it. No hub access. Its KV cache is ~128 KiB per token, so GPU memory visibly follows
the number of concurrent requests.

Usage: HF_HOME=DIR python build_random_llm.py [--layers 16] [--hidden 2048]
"""

from __future__ import annotations

import argparse
import os
import random
import string
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

REPO = "local/random-llama"
REVISION = "0" * 40  # a fixed snapshot id: rebuilding overwrites the same snapshot
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tokenizer(seed: int) -> PreTrainedTokenizerFast:
    # Metaspace BPE over printable ASCII: decodes cleanly token by token (byte-level BPE did not)
    rng = random.Random(seed)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 8))) for _ in range(3000)]
    corpus = [" ".join(rng.choices(words, k=12)) for _ in range(3000)] + [string.printable.strip()] * 10
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=4096, special_tokens=["<unk>", "<s>", "<|im_end|>", "<|im_start|>"],
        initial_alphabet=list(string.printable.strip()), show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                   eos_token="<|im_end|>", pad_token="<unk>", chat_template=CHAT_TEMPLATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    hub = Path(os.environ.get("HF_HOME", Path.home() / ".cache/huggingface")) / "hub"
    repo_dir = hub / f"models--{REPO.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / REVISION
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(REVISION)

    tok = tokenizer(args.seed)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=args.hidden, intermediate_size=args.hidden * 11 // 4,
                         num_hidden_layers=args.layers, num_attention_heads=args.hidden // 128,
                         num_key_value_heads=args.hidden // 128, max_position_embeddings=4096,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, torch_dtype="bfloat16")
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.generation_config.do_sample = False
    model.save_pretrained(snapshot)
    tok.save_pretrained(snapshot)
    params = sum(p.numel() for p in model.parameters())
    print(f"{REPO}: {params / 1e9:.2f} B parameters, vocab {len(tok)}, written to {snapshot}")


if __name__ == "__main__":
    main()
