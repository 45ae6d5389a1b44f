"""Make a copy of the tiny LLaVA whose tokenizer has `<think>` and `</think>` as single tokens, for the
reasoning checks: vLLM's think-block parsers (deepseek_r1 and its kin) look those tags up in the vocabulary and
refuse to start without them. The vocabulary keeps its size (the model's embedding stays as it is): the two
last BPE tokens give up their ids to the tags.

    build_think_tokenizer.py MODEL_DIR OUT_DIR

Deterministic: the same input gives the same files."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

TAGS = ("<think>", "</think>")


def main() -> None:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    shutil.copytree(source, out, dirs_exist_ok=True)
    tokenizer = json.loads((source / "tokenizer.json").read_text())
    vocab: dict[str, int] = tokenizer["model"]["vocab"]
    ids = sorted(vocab.values())[-len(TAGS):]
    by_id = {i: token for token, i in vocab.items()}
    freed = [by_id[i] for i in ids]
    for token in freed:
        del vocab[token]
    tokenizer["model"]["merges"] = [m for m in tokenizer["model"]["merges"]
                                    if "".join(m if isinstance(m, list) else m.split(" ")) not in freed]
    for tag, i in zip(TAGS, ids, strict=True):
        tokenizer["added_tokens"].append({"id": i, "content": tag, "single_word": False, "lstrip": False,
                                          "rstrip": False, "normalized": False, "special": False})
    (out / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    if isinstance(config.get("added_tokens_decoder"), dict):
        for tag, i in zip(TAGS, ids, strict=True):
            config["added_tokens_decoder"][str(i)] = {"content": tag, "lstrip": False, "normalized": False,
                                                      "rstrip": False, "single_word": False, "special": False}
        config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False))
    print(f"think tags {TAGS} as ids {ids} (were {freed}) -> {out}")


if __name__ == "__main__":
    main()
