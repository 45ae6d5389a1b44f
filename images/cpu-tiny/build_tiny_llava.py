"""Build a tiny, random-weight LLaVA checkpoint that real vLLM (CPU build) can serve.

No model hub is reachable at build time, so everything is generated here: a BPE
tokenizer trained on deterministic synthetic text, a LLaVA config (CLIP vision
tower + Llama language model), seeded random weights and a LLaVA processor.
Every random choice is seeded so that rebuilding yields identical files.

Usage: python build_tiny_llava.py OUTPUT_DIR
"""

import json
import random
import string
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

SEED = 1234
VOCAB_SIZE = 1024
IMAGE_SIZE = 56
PATCH_SIZE = 14
MAX_POSITIONS = 2048
# Large init so distinct images push greedy decoding to distinct tokens; at the usual
# 0.02 the random model's logits are nearly flat and many image pairs share outputs.
INIT_RANGE = 0.2

UNK, BOS, EOS, PAD = "<unk>", "<s>", "</s>", "<pad>"
IMAGE_TOKEN = "<image>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [UNK, BOS, EOS, PAD, IMAGE_TOKEN, IM_START, IM_END]

# ChatML; stored with the tokenizer/processor so vLLM's chat endpoint needs no --chat-template.
# vLLM inserts the "<image>" placeholder into the string content itself.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% else %}{{ '<image>' }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Seed vocabulary for the synthetic corpus, so common prompt words become single tokens.
CORPUS_WORDS = (
    "the a an image picture photo shows describe color red green blue white black "
    "yellow square circle line pattern gradient checkerboard left right top bottom "
    "model vision language text token assistant user system hello world test answer "
    "question what is this there are of in on with and or not small large tiny"
)
WORDS = CORPUS_WORDS.split()


def training_corpus(rng: random.Random) -> list[str]:
    """Deterministic text covering printable ASCII so any prompt tokenizes without <unk>."""
    lines = [string.printable.strip()] * 20
    for _ in range(4000):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 14))]
        # Mix in random ASCII "words" so characters outside WORDS get merges too.
        words += ["".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(1, 8)))]
        words += [rng.choice(string.punctuation)]
        rng.shuffle(words)
        lines.append(" ".join(words))
    return lines


def build_tokenizer(rng: random.Random) -> PreTrainedTokenizerFast:
    # Metaspace (SentencePiece-style) rather than byte-level BPE: the byte-level variant
    # produced output vLLM's incremental detokenizer could not decode cleanly.
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=list(string.printable.strip()),
        show_progress=False,
    )
    tok.train_from_iterator(training_corpus(rng), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=UNK,
        bos_token=BOS,
        # Chat turns end with <|im_end|>; making it EOS lets generation stop there.
        eos_token=IM_END,
        pad_token=PAD,
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        additional_special_tokens=[IMAGE_TOKEN, IM_START, IM_END],
        chat_template=CHAT_TEMPLATE,
        model_max_length=MAX_POSITIONS,
    )


def token_id(tokenizer: PreTrainedTokenizerFast, token: str) -> int:
    ids = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(ids, int):
        raise SystemExit(f"{token!r} is not a single token")
    return ids


def build_config(tokenizer: PreTrainedTokenizerFast) -> LlavaConfig:
    vision = CLIPVisionConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,  # the vision tower runs plain SDPA, so any head size works
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        projection_dim=64,
        initializer_range=INIT_RANGE,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        # vLLM's CPU attention only supports head sizes 32, 64, 80, ...; 128/2 = 64.
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=MAX_POSITIONS,
        initializer_range=INIT_RANGE,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=token_id(tokenizer, IMAGE_TOKEN),
        # "default" drops the CLS token: (56 / 14)^2 = 16 image tokens per image.
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2,
        projector_hidden_act="gelu",
        tie_word_embeddings=False,
    )


def nest_clip_vision_model(model_dir: Path) -> None:
    """Rename vision tower weights to the `vision_tower.vision_model.*` layout vLLM loads.

    transformers 5.x saves the CLIP tower as `vision_tower.<module>` without the
    `vision_model.` level that older checkpoints (and vLLM's CLIP loader) use.
    """
    prefix = "vision_tower."
    paths = sorted(model_dir.glob("*.safetensors"))
    if len(paths) != 1:
        raise SystemExit(f"expected one unsharded safetensors file, found {paths}")
    tensors = load_file(paths[0])
    tower = [name for name in tensors if name.startswith(prefix)]
    if not tower:
        raise SystemExit(f"no {prefix}* weights found; transformers changed its layout: {sorted(tensors)}")
    renamed = {
        (
            prefix + "vision_model." + name[len(prefix) :]
            if name.startswith(prefix) and not name.startswith(prefix + "vision_model.")
            else name
        ): tensor
        for name, tensor in tensors.items()
    }
    save_file(renamed, paths[0], metadata={"format": "pt"})
    # safetensors writes 0600 files; the server may run as any non-root user.
    paths[0].chmod(0o644)


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)

    rng = random.Random(SEED)
    torch.manual_seed(SEED)

    tokenizer = build_tokenizer(rng)
    config = build_config(tokenizer)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.do_sample = False
    model.save_pretrained(out, safe_serialization=True)
    nest_clip_vision_model(out)

    # Built with the PIL class so this script does not depend on torchvision; at load time
    # transformers picks the backend itself (torchvision when importable, else PIL).
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # the CLIP CLS token, dropped again by "default"
        chat_template=CHAT_TEMPLATE,
        image_token=IMAGE_TOKEN,
    )
    processor.save_pretrained(out)

    weights = {k: v.shape for k, v in load_file(out / "model.safetensors").items()}
    summary = {
        "vocab_size": len(tokenizer),
        "image_token_id": config.image_token_index,
        "num_tensors": len(weights),
        "num_params": sum(torch.Size(s).numel() for s in weights.values()),
        "files": sorted(p.name for p in out.iterdir()),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
