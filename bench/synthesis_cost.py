"""Cost per task: the paper's synthesis output format against the lean one (issue 19).

    python -m bench.synthesis_cost [--max-docs-per-domain 0] [--distractors 16] [--drift 0.1]
                                   [--price-in 1.25] [--price-out 10]

1. Every document of ../shared/corpora (`bench.common.CORPORA`; web pages routed by domain,
   as `make run` reads them) becomes a passage, and the offline generator
   (`llm/offline.py`) chooses each passage's span and candidate distractors, of which the
   first `--distractors` (16: what the prompts ask for) are kept: the *choices*.
2. The loopback OpenAI-compatible server (`goose_assets_tests/llm_server.py`) answers every
   synthesis prompt with exactly those choices, serialized in the prompt's format, so the
   two formats differ by their format alone, byte for byte:
   - `paper`: the masked text echoed, the span, the distractors;
   - `lean`: the span named by its first and last unit where the prompt numbers units
     (solution steps, code lines), else verbatim, and the distractors;
   - `lean_verbatim` (math and code only, where units exist): the span always verbatim,
     which splits the lean saving into the echo and the span.
   The openai backend asks with json_schema structured output, validates every answer as
   `masked_items` does (re-asks included) and each answer goes through
   `core.synthesis.masking.item_from_response`: an item it keeps is a *kept task* (every kept item
   has >= 8 usable distractors and becomes an `mcq_tasks` row).
3. The echo-drift scenario: the same server paraphrases `--drift` of the echoes it writes
   (a line break reflowed, one word changed: `llm_server.paraphrase_echo`). Only the paper
   format echoes, so only it can pay re-asks for drift.

Tokens are counted by the server with the o200k_base encoding (bpe-openai, which ships its
vocabularies; tiktoken downloads them at run time, impossible here) over message contents;
where bpe-openai is not installed the count falls back to characters / 4 and every table
says so. Cost is at `--price-in` / `--price-out` USD per million tokens.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import CORPORA, DATA, DOMAINS, corpora_missing, fmt, md_table, write_result

TOKENIZER = "o200k_base"
# GPT-5's list prices at its release (USD per million tokens): the paper's synthesis model
PRICE_IN, PRICE_OUT = 1.25, 10.0
GOAL_OVERALL, GOAL_CODE = 0.8, 0.6
_DOC = re.compile(r"<document>\n(.*?)\n</document>", re.DOTALL)


def tokenizer_available() -> bool:
    try:
        import bpe_openai  # noqa: F401
    except ImportError:
        return False
    return True


def load_passages(max_docs: int) -> dict[str, list[Any]]:
    """Every passage `extracted_passages` makes from the corpora, offline (web pages by the
    window extractor), per domain in passage-id order."""
    from goose_assets.core.ingest import readers as ingest
    from goose_assets.core.records import Document, QuarantineRow
    from goose_assets.core.synthesis import passages
    from goose_assets.defs.resources import CorpusResource

    corpus = CorpusResource(corpus_dir=str(CORPORA), max_docs_per_domain=max_docs)
    out: dict[str, list[Any]] = {}
    for domain in DOMAINS:
        docs = [r for r in ingest.ingest(corpus.sources(domain), domain) if isinstance(r, Document)]
        made = [passages.passage_from_document(d) for d in docs]
        out[domain] = sorted((p for p in made if not isinstance(p, QuarantineRow)), key=lambda p: p.passage_id)
    return out


def offline_choices(domain: str, psgs: list[Any], n_distractors: int) -> dict[str, dict[str, Any]]:
    """passage_id -> the offline generator's span and first `n_distractors` candidates
    (passages where it finds no span are left out: no format is asked for them)."""
    from goose_assets.core.prompts import OUTPUT_KEYS, family
    from goose_assets.core.records import MASK
    from goose_assets.core.synthesis import masking
    from goose_assets.core.synthesis.parse import parse_object
    from goose_assets.llm.offline import OfflineBackend

    backend = OfflineBackend()
    backend.prepare(domain, [(p.passage_id, p.shape, p.body) for p in psgs])
    requests = [masking.synthesis_request(p) for p in psgs]
    out = {}
    for p, resp in zip(psgs, backend.generate(requests), strict=True):
        if resp.error is not None:
            continue
        obj, _ = parse_object(resp.texts[0])
        assert obj is not None
        masked_key, answer_key, distractor_key = OUTPUT_KEYS[family(p.shape)]
        start = obj[masked_key].index(MASK)
        out[p.passage_id] = {"shape": p.shape, "body": p.body, "start": start, "end": start + len(obj[answer_key]),
                             "distractors": obj[distractor_key][:n_distractors]}
    return out


def offline_code_version() -> str:
    """A hash of the offline generator's source and of every module of the package it
    imports, transitively (defs.code_versions' walk, as an asset's code version is made)."""
    from goose_assets.defs.code_versions import reachable_modules

    digest = hashlib.sha256()
    for name in reachable_modules(["goose_assets.llm.offline"]):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        digest.update(name.encode() + b"\0" + Path(spec.origin).read_bytes())
    return digest.hexdigest()[:12]


def build_choices(passages_by_domain: dict[str, list[Any]], n_distractors: int, max_docs: int) -> dict[str, dict[str, Any]]:
    """The offline choices for every domain, built once into bench/.data and reused while the
    corpora, the offline generator's code and the settings are unchanged."""
    stamp = [str(CORPORA), n_distractors, max_docs, offline_code_version()]
    for f in sorted(CORPORA.glob("*.jsonl")):
        stamp += [f.name, f.stat().st_size, f.stat().st_mtime_ns]
    path = DATA / "synthesis_cost" / f"choices-{hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:16]}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    choices: dict[str, dict[str, Any]] = {}
    for domain, psgs in passages_by_domain.items():
        started = time.time()
        choices.update(offline_choices(domain, psgs, n_distractors))
        print(f"  offline choices {domain}: {len(psgs)} passages, {time.time() - started:.0f} s", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{time.time_ns()}.tmp")
    tmp.write_text(json.dumps(choices), encoding="utf-8")
    tmp.replace(path)
    return choices


@dataclasses.dataclass
class Variant:
    name: str
    fmt: str
    lean_units: bool
    scenario: str  # clean | drift
    domains: tuple[str, ...] = DOMAINS


def run_variant(server: Any, variant: Variant, passages_by_domain: dict[str, list[Any]],
                choices: dict[str, dict[str, Any]], drift: float, prices: Any) -> list[dict[str, Any]]:
    from goose_assets.core.prompts import OUTPUT_KEYS, family
    from goose_assets.core.records import QuarantineRow
    from goose_assets.core.synthesis import masking
    from goose_assets.core.synthesis.synthesis_format import PAPER
    from goose_assets.llm.openai_backend import OpenAIBackend
    from goose_assets_tests.llm_server import token_counter

    count = token_counter(server.config.tokenizer)

    server.config.lean_units = variant.lean_units
    server.config.fault_rates = {"echo_drift": drift} if variant.scenario == "drift" else {}
    rows = []
    for domain in variant.domains:
        psgs = [p for p in passages_by_domain[domain] if p.passage_id in choices]
        requests = [masking.synthesis_request(p, synthesis_format=variant.fmt) for p in psgs]
        # the breaker is off: this measures failures, it must not stop at them
        backend = OpenAIBackend(server.base_url, "loopback-model", max_in_flight=16, breaker_min_calls=0,
                                progress_every_s=1e9, prices=prices)
        server.reset()
        started = time.time()
        responses = backend.generate(requests)
        wall = time.time() - started
        stats = server.stats()
        kept = 0
        failures: Counter[str] = Counter()
        doc_chars: Counter[str] = Counter()
        out_chars: Counter[str] = Counter()
        parts: Counter[str] = Counter()  # where a kept paper reply's output tokens go
        for p, req, resp in zip(psgs, requests, responses, strict=True):
            item = masking.item_from_response(p, req, resp, backend.name, backend.model)
            if isinstance(item, QuarantineRow):
                failures[item.reason] += 1
                continue
            kept += 1
            # the estimator's calibration (llm.calls.estimate.SYNTHESIS_OUTPUT_PER_DOC_CHAR): a kept
            # answer's characters per character of the document the prompt shows
            fam = family(p.shape)
            doc_chars[fam] += len(_DOC.findall(req.messages[-1]["content"])[-1])
            out_chars[fam] += len(resp.texts[0])
            if variant.fmt == PAPER and variant.scenario == "clean":
                obj = json.loads(resp.texts[0])
                masked_key, answer_key, distractor_key = OUTPUT_KEYS[fam]
                # each field as it stands in the reply: a JSON string, escapes included (a code
                # echo's newlines and quotes cost tokens too)
                parts["echo"] += count(json.dumps(obj[masked_key], ensure_ascii=False))
                parts["span"] += count(json.dumps(obj[answer_key], ensure_ascii=False))
                parts["distractors"] += count(json.dumps(obj[distractor_key], ensure_ascii=False))
                parts["all"] += count(resp.texts[0])
        reask_reasons = Counter({k: v for k, v in backend.stats.faults.items() if k != "repaired_json"})
        n = len(requests)
        rows.append({
            "variant": variant.name, "format": variant.fmt, "scenario": variant.scenario, "domain": domain,
            "requests": n, "calls": stats["received"], "reasks": backend.stats.reasks,
            "reask_rate": round(backend.stats.reasks / max(1, n), 4),
            "echoes_paraphrased": stats["faults"].get("echo_drift", 0),
            "kept": kept, "kept_rate": round(kept / max(1, n), 4),
            "failures": dict(sorted(failures.items())), "reask_reasons": dict(sorted(reask_reasons.items())),
            "chars_in": stats["chars_in"], "chars_out": stats["chars_out"],
            "tokens_in": stats["tokens_in"], "tokens_out": stats["tokens_out"],
            "cost_usd": round(prices.cost(stats["tokens_in"], stats["tokens_out"]), 4),
            "output_per_doc_char": {f: round(out_chars[f] / doc_chars[f], 3) for f in sorted(doc_chars)},
            "doc_chars": dict(doc_chars), "out_chars_kept": dict(out_chars),
            "paper_reply_tokens": dict(parts),
            "wall_s": round(wall, 1),
        })
        print(f"  {variant.name:<14}{domain:<8} {n} requests, {stats['received']} calls, {kept} kept, "
              f"{stats['tokens_out'] / max(1, kept):,.0f} output tokens per kept task, {wall:.0f} s", flush=True)
    return rows


def _total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: rows[0][k] for k in ("variant", "format", "scenario")}
    out["domain"] = "all"
    for key in ("requests", "calls", "reasks", "echoes_paraphrased", "kept", "chars_in", "chars_out",
                "tokens_in", "tokens_out", "cost_usd"):
        out[key] = round(sum(r[key] for r in rows), 4) if key == "cost_usd" else sum(r[key] for r in rows)
    out["reask_rate"] = round(out["reasks"] / max(1, out["requests"]), 4)
    out["kept_rate"] = round(out["kept"] / max(1, out["requests"]), 4)
    for key in ("failures", "reask_reasons"):
        total: Counter[str] = Counter()
        for r in rows:
            total.update(r[key])
        out[key] = dict(sorted(total.items()))
    doc: Counter[str] = Counter()
    chars: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    for r in rows:
        doc.update(r["doc_chars"])
        chars.update(r["out_chars_kept"])
        parts.update(r["paper_reply_tokens"])
    out["paper_reply_tokens"] = dict(parts)
    out["output_per_doc_char"] = {f: round(chars[f] / doc[f], 3) for f in sorted(doc)}
    return out


def _derive(row: dict[str, Any]) -> None:
    n, kept = max(1, row["requests"]), max(1, row["kept"])
    row["chars_out_per_request"] = round(row["chars_out"] / n, 1)
    row["tokens_out_per_request"] = round(row["tokens_out"] / n, 1)
    row["chars_out_per_kept"] = round(row["chars_out"] / kept, 1)
    row["tokens_out_per_kept"] = round(row["tokens_out"] / kept, 1)
    row["tokens_in_per_kept"] = round(row["tokens_in"] / kept, 1)
    row["cost_per_1000_kept"] = round(1000 * row["cost_usd"] / kept, 4)


def measure(max_docs: int, n_distractors: int, drift: float, price_in: float, price_out: float) -> dict[str, Any]:
    from goose_assets.core.synthesis import masking
    from goose_assets.core.synthesis.synthesis_format import LEAN, PAPER
    from goose_assets.llm.calls.accounting import Prices
    from goose_assets_tests.llm_server import LoopbackLLMServer, ServerConfig, prompt_key

    tokenizer = TOKENIZER if tokenizer_available() else "chars/4"
    started = time.time()
    passages_by_domain = load_passages(max_docs)
    choices = build_choices(passages_by_domain, n_distractors, max_docs)
    # every prompt either format sends, mapped to its passage's choices
    ordered = [pid for psgs in passages_by_domain.values() for p in psgs if (pid := p.passage_id) in choices]
    index = {pid: i for i, pid in enumerate(ordered)}
    by_prompt: dict[str, int] = {}
    for psgs in passages_by_domain.values():
        for p in psgs:
            if p.passage_id in index:
                for f in (PAPER, LEAN):
                    by_prompt[prompt_key(masking.synthesis_request(p, synthesis_format=f).messages)] = index[p.passage_id]
    choices_path = DATA / "synthesis_cost" / "server-choices.json"
    choices_path.parent.mkdir(parents=True, exist_ok=True)
    choices_path.write_text(json.dumps({"choices": [choices[pid] for pid in ordered], "by_prompt": by_prompt}), encoding="utf-8")
    prices = Prices(price_in, price_out)
    variants = [
        Variant("paper", PAPER, True, "clean"),
        Variant("lean", LEAN, True, "clean"),
        Variant("lean_verbatim", LEAN, False, "clean", ("math", "code")),
        Variant("paper", PAPER, True, "drift"),
        Variant("lean", LEAN, True, "drift"),
    ]
    rows: list[dict[str, Any]] = []
    config = ServerConfig(seed=0, distractors=n_distractors, choices_path=str(choices_path), tokenizer=tokenizer)
    with LoopbackLLMServer(config) as server:
        for v in variants:
            got = run_variant(server, v, passages_by_domain, choices, drift, prices)
            rows += [*got, _total(got)]
    for r in rows:
        _derive(r)
    passages_n = {d: len(p) for d, p in passages_by_domain.items()}
    no_span = {d: sum(1 for p in ps if p.passage_id not in choices) for d, ps in passages_by_domain.items()}
    return {
        "corpora": str(CORPORA), "max_docs_per_domain": max_docs, "distractors": n_distractors, "drift": drift,
        "tokenizer": tokenizer, "price_in_per_mtok": price_in, "price_out_per_mtok": price_out,
        "passages": passages_n, "not_asked_no_span": no_span, "rows": rows,
        "ratios": ratios(rows), "wall_s": round(time.time() - started, 1),
        "goal_overall": GOAL_OVERALL, "goal_code": GOAL_CODE,
    }


def _row(rows: list[dict[str, Any]], variant: str, scenario: str, domain: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["variant"] == variant and r["scenario"] == scenario and r["domain"] == domain), None)


def ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """lean ÷ paper of output tokens per kept task (and per request, and cost), per domain,
    in the clean scenario; the drift scenario's re-asks side by side; the goals."""
    out: dict[str, Any] = {"by_domain": {}}
    for domain in (*DOMAINS, "all"):
        paper, lean = _row(rows, "paper", "clean", domain), _row(rows, "lean", "clean", domain)
        if not paper or not lean:
            continue
        entry = {
            "tokens_out_per_kept": round(lean["tokens_out_per_kept"] / paper["tokens_out_per_kept"], 3),
            "tokens_out_per_request": round(lean["tokens_out_per_request"] / paper["tokens_out_per_request"], 3),
            "chars_out_per_kept": round(lean["chars_out_per_kept"] / paper["chars_out_per_kept"], 3),
            "cost_per_1000_kept": round(lean["cost_per_1000_kept"] / paper["cost_per_1000_kept"], 3),
        }
        verbatim = _row(rows, "lean_verbatim", "clean", domain)
        if verbatim:
            entry["verbatim_tokens_out_per_kept"] = round(verbatim["tokens_out_per_kept"] / paper["tokens_out_per_kept"], 3)
        out["by_domain"][domain] = entry
    overall, code = out["by_domain"].get("all"), out["by_domain"].get("code")
    out["goal_overall_met"] = bool(overall and overall["tokens_out_per_kept"] <= GOAL_OVERALL)
    out["goal_code_met"] = bool(code and code["tokens_out_per_kept"] <= GOAL_CODE)
    paper_d, lean_d = _row(rows, "paper", "drift", "all"), _row(rows, "lean", "drift", "all")
    paper_c, lean_c = _row(rows, "paper", "clean", "all"), _row(rows, "lean", "clean", "all")
    if paper_d and lean_d and paper_c and lean_c:
        out["drift"] = {
            "paper_echoes_paraphrased": paper_d["echoes_paraphrased"], "lean_echoes_paraphrased": lean_d["echoes_paraphrased"],
            "paper_reasks": paper_d["reasks"], "lean_reasks": lean_d["reasks"],
            # re-asks the drift caused: beyond the same format's clean run (same choices)
            "paper_drift_reasks": paper_d["reasks"] - paper_c["reasks"], "lean_drift_reasks": lean_d["reasks"] - lean_c["reasks"],
            "paper_kept_lost": paper_c["kept"] - paper_d["kept"], "lean_kept_lost": lean_c["kept"] - lean_d["kept"],
        }
        out["goal_drift_met"] = out["drift"]["lean_drift_reasks"] == 0 and lean_d["echoes_paraphrased"] == 0
    return out


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "–"


def table(result: dict[str, Any]) -> str:
    rows = result["rows"]
    tok = result["tokenizer"]
    tok_note = (f"tokens counted with **{tok}** (bpe-openai) over message contents" if tok != "chars/4"
                else "**no tokenizer installed: tokens are characters / 4** (install bpe-openai for o200k_base)")
    passages = sum(result["passages"].values())
    skipped = sum(result["not_asked_no_span"].values())
    size = (f"at most {fmt(result['max_docs_per_domain'])} documents per domain of the corpora" if result["max_docs_per_domain"]
            else "the whole corpora")
    head = (f"Size: {size} ({fmt(passages)} passages; {fmt(skipped)} where the offline generator finds no span "
            f"are asked in neither format), {result['distractors']} distractors per answer, the offline generator's choices "
            f"served by the loopback server; {tok_note}; cost at ${result['price_in_per_mtok']:g} in / "
            f"${result['price_out_per_mtok']:g} out per million tokens. Settings that differ from `make run`: the openai "
            "backend against the loopback server, `masked_items` only (a kept task is an item that passes validation).")
    header = ["domain", "format", "requests", "calls", "re-asks (rate)", "kept", "out chars / req", "out tok / req",
              "out tok / kept", "in tok / kept", "final failures", "$ / 1,000 kept"]
    body = []
    for domain in (*DOMAINS, "all"):
        for variant in ("paper", "lean", "lean_verbatim"):
            r = _row(rows, variant, "clean", domain)
            if r is None:
                continue
            body.append([domain, variant, r["requests"], r["calls"], f"{fmt(r['reasks'])} ({r['reask_rate']:.1%})", r["kept"],
                         r["chars_out_per_request"], r["tokens_out_per_request"], r["tokens_out_per_kept"],
                         r["tokens_in_per_kept"], _reasons(r["failures"]), f"{r['cost_per_1000_kept']:.2f}"])
    ratio_rows = []
    for domain, e in result["ratios"]["by_domain"].items():
        ratio_rows.append([domain, e["tokens_out_per_kept"], e["tokens_out_per_request"], e["chars_out_per_kept"],
                           e["cost_per_1000_kept"], e.get("verbatim_tokens_out_per_kept", "–")])
    drift_rows = []
    for domain in (*DOMAINS, "all"):
        for variant in ("paper", "lean"):
            r = _row(rows, variant, "drift", domain)
            if r is None:
                continue
            drift_rows.append([domain, variant, r["echoes_paraphrased"], f"{fmt(r['reasks'])} ({r['reask_rate']:.1%})",
                               _reasons(r["reask_reasons"]), r["kept"], r["tokens_out_per_kept"], f"{r['cost_per_1000_kept']:.2f}"])
    composition = []
    for domain in (*DOMAINS, "all"):
        r = _row(rows, "paper", "clean", domain)
        parts = (r or {}).get("paper_reply_tokens") or {}
        if parts.get("all"):
            share = {k: parts[k] / parts["all"] for k in ("echo", "span", "distractors")}
            composition.append([domain, f"{share['echo']:.1%}", f"{share['span']:.1%}", f"{share['distractors']:.1%}",
                                f"{1 - sum(share.values()):.1%}", round(1 - share["echo"] - share["span"], 3)])
    ratio = result["ratios"]
    at_size = "" if not result["max_docs_per_domain"] else " at this size (they are set on the whole corpora)"
    goals = (f"Goals{at_size}: lean output tokens per kept task ≤ {result['goal_overall']}× paper overall: "
             f"{'**met**' if ratio['goal_overall_met'] else '**not met**'} "
             f"(×{ratio['by_domain']['all']['tokens_out_per_kept']}); ≤ {result['goal_code']}× for code: "
             f"{'**met**' if ratio['goal_code_met'] else '**not met**'} (×{ratio['by_domain']['code']['tokens_out_per_kept']}); "
             f"no echo-drift re-ask in lean: {'**met**' if ratio.get('goal_drift_met') else '**not met**'} "
             f"(drift re-asks: paper {ratio['drift']['paper_drift_reasks']}, lean {ratio['drift']['lean_drift_reasks']}).")
    return "\n\n".join([
        head,
        "Both formats, the same choices (clean server):",
        md_table(header, body),
        "lean ÷ paper (`lean_verbatim`: the span always copied, never named by its units):",
        md_table(["domain", "out tok / kept", "out tok / req", "out chars / kept", "$ / 1,000 kept", "lean_verbatim out tok / kept"], ratio_rows),
        "Where a kept paper-format reply's output tokens go (each field tokenized as the JSON string or list it is in "
        "the reply, escapes included; the rest is keys and punctuation). Without the echo and the span, what is left "
        "is what any format that returns the same distractors must still write:",
        md_table(["domain", "echo (masked text)", "span", "distractors", "keys, punctuation", "1 − echo − span"], composition),
        f"Echo drift: the server paraphrases {result['drift']:.0%} of the echoes it writes (seeded per prompt and attempt, "
        "so a re-ask can drift again):",
        md_table(["domain", "format", "echoes paraphrased", "re-asks (rate)", "failed calls by reason", "kept", "out tok / kept",
                  "$ / 1,000 kept"], drift_rows),
        goals,
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-docs-per-domain", type=int, default=0, help="0: the whole corpora")
    parser.add_argument("--distractors", type=int, default=16, help="distractors per answer (the prompts ask for 16)")
    parser.add_argument("--drift", type=float, default=0.1, help="share of echoes the drift server paraphrases")
    parser.add_argument("--price-in", type=float, default=PRICE_IN, help="USD per million input tokens")
    parser.add_argument("--price-out", type=float, default=PRICE_OUT, help="USD per million output tokens")
    args = parser.parse_args(argv)
    if reason := corpora_missing():
        print(f"skipped: {reason}")
        return 0
    result = measure(args.max_docs_per_domain, args.distractors, args.drift, args.price_in, args.price_out)
    write_result("synthesis_cost", result, argv)
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
