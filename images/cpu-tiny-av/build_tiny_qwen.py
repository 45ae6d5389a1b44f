"""Build two tiny, random-weight Qwen checkpoints that real vLLM (CPU build) serves with video and audio.

    tiny-qwen2-vl      Qwen2-VL: images and video (a 2-layer vision tower, 16 tokens per image,
                       16 per two frames)
    tiny-qwen2-audio   Qwen2-Audio: audio (a 2-layer Whisper-style encoder, 25 tokens per second)

No model hub is reachable at build time, so everything is generated here: one BPE tokenizer trained on
deterministic synthetic text with Qwen's special tokens, the configs, seeded random weights and the
processors. Every random choice is seeded, so rebuilding yields identical files.

Usage: python build_tiny_qwen.py OUTPUT_DIR   (writes OUTPUT_DIR/tiny-qwen2-vl and OUTPUT_DIR/tiny-qwen2-audio)
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
    PreTrainedTokenizerFast,
    Qwen2AudioConfig,
    Qwen2AudioEncoderConfig,
    Qwen2AudioForConditionalGeneration,
    Qwen2AudioProcessor,
    Qwen2Config,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessorPil,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
    WhisperFeatureExtractor,
)

SEED = 4321
VOCAB_SIZE = 1024
MAX_POSITIONS = 4096
INIT_RANGE = 0.2  # large, so distinct media push greedy decoding to distinct tokens (see cpu-tiny)
PATCH, MERGE, TEMPORAL = 14, 2, 2
# every image and every frame is resized to 56x56: (56/14)^2 patches, merged 2x2 -> 4 tokens... at most
# 112x112: 64 patches -> 16 tokens per image, 16 per two frames
MIN_PIXELS, MAX_PIXELS = 56 * 56, 112 * 112

EOT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
VISION = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
AUDIO = ["<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>"]
SPECIAL_TOKENS = [EOT, IM_START, IM_END, *VISION, *AUDIO]

# ChatML over string content only: vLLM then writes each model's media placeholders into the text itself.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

WORDS = ("the a an image video clip audio sound tone frame picture describe color red green blue white "
         "black square moving left right what is this there are of in on with and or not hear see").split()


def build_tokenizer(rng: random.Random) -> PreTrainedTokenizerFast:
    """Metaspace BPE over printable ASCII (byte-level BPE decoded badly in vLLM, see cpu-tiny)."""
    lines = [string.printable.strip()] * 20
    for _ in range(4000):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 14))]
        words.append("".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(1, 8))))
        rng.shuffle(words)
        lines.append(" ".join(words) + rng.choice(string.punctuation))
    tok = Tokenizer(models.BPE(unk_token=EOT))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(lines, trainer=trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, initial_alphabet=list(string.printable.strip()),
        show_progress=False))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token=EOT, eos_token=IM_END, pad_token=EOT,
        additional_special_tokens=SPECIAL_TOKENS[1:], chat_template=CHAT_TEMPLATE,
        model_max_length=MAX_POSITIONS)


def text_config(tokenizer: PreTrainedTokenizerFast, **extra: object) -> dict:
    # vLLM's CPU attention takes head sizes 32, 64, 80, ...: 128 / 2 heads = 64
    return dict(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=MAX_POSITIONS,
                initializer_range=INIT_RANGE, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, **extra)


def ids(tokenizer: PreTrainedTokenizerFast, *tokens: str) -> list[int]:
    found = [tokenizer.convert_tokens_to_ids(t) for t in tokens]
    if any(not isinstance(i, int) or i == tokenizer.unk_token_id for i in found):
        raise SystemExit(f"not single tokens: {tokens} -> {found}")
    return found


def save(model: torch.nn.Module, processor: object, out: Path, renames: dict[str, str] | None = None) -> dict:
    model.generation_config.do_sample = False
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    (weights,) = out.glob("*.safetensors")
    if renames:
        tensors = load_file(weights)
        if not any(name.startswith(tuple(renames)) for name in tensors):
            raise SystemExit(f"no weights named {sorted(renames)}*: transformers changed its layout: {sorted(tensors)}")
        save_file({next((new + name[len(old):] for old, new in renames.items() if name.startswith(old)), name): t
                   for name, t in tensors.items()}, weights, metadata={"format": "pt"})
    weights.chmod(0o644)  # safetensors writes 0600; the server may run as any user
    return {"params": sum(p.numel() for p in model.parameters()), "files": sorted(p.name for p in out.iterdir())}


def build_vl(tokenizer: PreTrainedTokenizerFast, out: Path) -> dict:
    image, video, start, end = ids(tokenizer, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    config = Qwen2VLConfig(
        # M-RoPE splits the head's 32 rotary pairs over time, height, width
        text_config=text_config(tokenizer, rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                                                            "mrope_section": [8, 12, 12]}),
        vision_config=dict(depth=2, embed_dim=64, hidden_size=128, mlp_ratio=2, num_heads=2, patch_size=PATCH,
                           spatial_merge_size=MERGE, temporal_patch_size=TEMPORAL, initializer_range=INIT_RANGE),
        image_token_id=image, video_token_id=video, vision_start_token_id=start, vision_end_token_id=end,
        tie_word_embeddings=False)
    size = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    common = dict(size=size, patch_size=PATCH, merge_size=MERGE, temporal_patch_size=TEMPORAL)
    processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessorPil(**common),
                                 video_processor=Qwen2VLVideoProcessor(**common, min_frames=2, max_frames=16),
                                 tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    return save(Qwen2VLForConditionalGeneration(config), processor, out)


def build_audio(tokenizer: PreTrainedTokenizerFast, out: Path) -> dict:
    (audio,) = ids(tokenizer, "<|AUDIO|>")
    config = Qwen2AudioConfig(
        audio_config=Qwen2AudioEncoderConfig(num_mel_bins=128, encoder_layers=2, encoder_attention_heads=2,
                                             encoder_ffn_dim=128, d_model=64, max_source_positions=1500,
                                             init_std=INIT_RANGE).to_dict(),
        text_config=Qwen2Config(**text_config(tokenizer)).to_dict(), audio_token_index=audio)
    processor = Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128, sampling_rate=16000),
                                    tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    # transformers 5 saves the language model one `model.` deeper than the checkpoints vLLM loads
    return save(Qwen2AudioForConditionalGeneration(config), processor, out,
                {"language_model.model.model.": "language_model.model."})


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = Path(sys.argv[1])
    tokenizer = build_tokenizer(random.Random(SEED))
    torch.manual_seed(SEED)
    summary = {"vocab_size": len(tokenizer), "tiny-qwen2-vl": build_vl(tokenizer, out / "tiny-qwen2-vl")}
    torch.manual_seed(SEED)
    summary["tiny-qwen2-audio"] = build_audio(tokenizer, out / "tiny-qwen2-audio")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
