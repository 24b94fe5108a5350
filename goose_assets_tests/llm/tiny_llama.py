"""A tiny random Llama with its own byte-level BPE tokenizer, built offline for vLLM tests.

No Hub access here, so the model is made, not downloaded:
1. a byte-level BPE (vocab ~2k) trained with `tokenizers` on the bundled sample corpus and
   the prompt templates, wrapped in `PreTrainedTokenizerFast` with a chat template;
2. `LlamaForCausalLM(LlamaConfig(hidden 64, 2 heads))`: head_dim 32, which the CPU attention
   backend accepts (16 fails);
3. a JSON-punctuation bias: a purely random model never closes its strings, so every
   constrained output would run to max_tokens. A constant feature in `embed_tokens[:, 0]`
   and a per-token weight in `lm_head[:, 0]` make `"` most likely, then `] } :`, then some
   word tokens and EOS, and push whitespace-only and control tokens down. The grammar still
   decides what is *allowed*; the bias only makes the random model finish;
4. `save_pretrained` to a directory vLLM loads.

Needs torch, transformers and tokenizers (the vllm venv has them; the project venv too).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SPECIAL = ["<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def training_lines(repo: Path) -> list[str]:
    lines: list[str] = []
    for path in sorted((repo / "goose_assets" / "sample_corpus").glob("*.jsonl")):
        for raw in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(raw)
            except ValueError:
                continue
            lines += [ln for ln in str(row.get("text") or row.get("html") or "").splitlines() if ln.strip()]
    for path in sorted((repo / "goose_assets" / "core" / "prompts").glob("*.txt")):
        lines += path.read_text(encoding="utf-8").splitlines()
    # JSON shapes the model must be able to spell
    lines += ['{"masked_reference_solution": "[MASK]", "removed_steps": "x", "distractors": ["a", "b"]}'] * 20
    return lines


def build_tokenizer(lines: list[str], vocab_size: int = 2048):  # noqa: ANN201 - PreTrainedTokenizerFast
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   additional_special_tokens=SPECIAL[3:])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def token_bias(tokenizer) -> list[float]:  # noqa: ANN001
    """Per-token weight on the constant feature: JSON closers first, junk last."""
    bias: list[float] = []
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id])
        if token_id == tokenizer.eos_token_id:
            b = 2.0
        elif text == '"':
            b = 4.0
        elif text in ("]", "}", ":", ",", '",', '"]', '"}', "]}", '":'):
            b = 3.0
        elif text.strip() == "" or any(ord(ch) < 32 for ch in text):
            b = -6.0
        elif text.isalpha() and len(text) >= 3:
            b = 1.5
        elif token_id < len(SPECIAL):
            b = -6.0
        else:
            b = 0.0
        bias.append(b)
    return bias


def build_model(out_dir: Path, repo: Path, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(training_lines(repo))
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.model.embed_tokens.weight[:, 0] = 1.0  # a constant feature every position carries
        model.lm_head.weight[:, 0] = torch.tensor(token_bias(tokenizer))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


if __name__ == "__main__":
    target = Path(sys.argv[1])
    print(build_model(target, Path(__file__).resolve().parents[2]))
