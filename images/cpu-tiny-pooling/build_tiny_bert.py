"""Build two tiny, random-weight BERT checkpoints that real vLLM (CPU build) serves for pooling.

    tiny-bert-embed     BertModel: /v1/embeddings and /pooling (mean pooling, normalized)
    tiny-bert-classify  BertForSequenceClassification, 3 labels: /classify
    tiny-bert-score     BertForSequenceClassification, 1 label, a cross-encoder: /score and /rerank

No model hub is reachable at build time, so everything is generated here: one WordPiece tokenizer trained on
deterministic synthetic text, the configs and seeded random weights. Every random choice is seeded.
Head size 64 (128 hidden, 2 heads): vLLM's CPU attention takes 32, 64, 80, 96, 112, 128, ...

Usage: python build_tiny_bert.py OUTPUT_DIR
"""

import json
import random
import string
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertForSequenceClassification, BertModel, PreTrainedTokenizerFast

SEED = 2026
VOCAB_SIZE = 1024
MAX_POSITIONS = 512
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the a of and to in is it that for on with as was at by this be from or have an they which one you "
         "were all we when there can more if no out so what up about into than them only other new some could "
         "time these two may first then do any like my now over such our man me even most made after also "
         "query document passage answer lighthouse keeper story ocean ship storm night light").split()


def corpus(rng: random.Random) -> list[str]:
    lines = [string.printable.strip()] * 20
    for _ in range(4000):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 14))]
        words += ["".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(1, 8)))]
        rng.shuffle(words)
        lines.append(" ".join(words))
    return lines


def build_tokenizer(rng: random.Random) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIALS,
                                        initial_alphabet=list(string.printable.strip()), show_progress=False)
    tok.train_from_iterator(corpus(rng), trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=MAX_POSITIONS)


def config(tokenizer: PreTrainedTokenizerFast, **extra: object) -> BertConfig:
    return BertConfig(vocab_size=len(tokenizer), hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=256, max_position_embeddings=MAX_POSITIONS, type_vocab_size=2,
                      pad_token_id=tokenizer.pad_token_id, initializer_range=0.2, **extra)


def save(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, out: Path, extra: dict | None = None) -> dict:
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    if extra:  # sentence-transformers' pooling description, read by vLLM for the embedding model
        for name, content in extra.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(json.dumps(content, indent=2))
    return {"parameters": sum(p.numel() for p in model.parameters()), "path": str(out)}


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = Path(sys.argv[1])
    tokenizer = build_tokenizer(random.Random(SEED))
    summary: dict = {"vocab_size": len(tokenizer)}
    torch.manual_seed(SEED)
    summary["tiny-bert-embed"] = save(BertModel(config(tokenizer), add_pooling_layer=False), tokenizer,
                                      out / "tiny-bert-embed", {
        "modules.json": [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                         {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                         {"idx": 2, "name": "2", "path": "2_Normalize",
                          "type": "sentence_transformers.models.Normalize"}],
        "1_Pooling/config.json": {"word_embedding_dimension": 128, "pooling_mode_mean_tokens": True}})
    torch.manual_seed(SEED)
    summary["tiny-bert-classify"] = save(BertForSequenceClassification(config(
        tokenizer, num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
        label2id={"negative": 0, "neutral": 1, "positive": 2})), tokenizer, out / "tiny-bert-classify")
    torch.manual_seed(SEED)
    summary["tiny-bert-score"] = save(BertForSequenceClassification(config(tokenizer, num_labels=1)), tokenizer,
                                      out / "tiny-bert-score")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
