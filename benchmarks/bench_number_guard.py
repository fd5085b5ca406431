"""How the few-shot number guard sees keywords: each number word's keyword-likeness.

Why: languages without a word list get numbers read by espeak-ng as unknown words, and a number
may be the keyword itself. `tinykws.training.fewshot.without_keyword_like` drops a number word whose
keyword-likeness (0: the typical number word, 1: the shots) exceeds LIKE_KEYWORD. This prints,
for espeak-ng shots of number words spelled out and of other words, the keyword's own number
(where there is one) and the nearest other numbers, so the threshold can be checked.

    .venv/bin/python benchmarks/bench_number_guard.py [--out benchmarks/results/number_guard.md]

Figures are *measured* with the shipped embedding (models/embed-ml), seed 0, 24 bank speakers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# (language, keyword, the number it is, or None)
CASES = [
    ("lt", "septyni", "7"), ("bg", "пет", "5"), ("cy", "tri", "3"), ("ms", "tujuh", "7"),
    ("th", "สาม", "3"), ("lt", "labas", None), ("bg", "здравей", None), ("ms", "rumah", None),
    ("ar", "خمسة", None),
]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/number_guard.md"))
    args = ap.parse_args()
    from tinykws.training.fewshot import (
        DEFAULT_EMBEDDING,
        LIKE_KEYWORD,
        keyword_likeness,
        tts_shots,
        unknown_bank,
    )
    from tinykws.training.fewshot_eval import load_embedder

    emb = load_embedder(DEFAULT_EMBEDDING)
    lines = [
        "# Few-shot number guard: keyword-likeness of number words (measured)",
        "",
        "Command: `.venv/bin/python benchmarks/bench_number_guard.py`. Shipped embedding, seed 0,",
        f"24 bank speakers, espeak-ng shots. A number word leaves the bank above {LIKE_KEYWORD}.",
        "The `ar` row's keyword is unvocalized Arabic for five, which espeak-ng does not read as 5.",
        "",
        "| language | keyword | its number: likeness | nearest other numbers | dropped |",
        "|---|---|---|---|---|",
    ]
    for lang, kw, number in CASES:
        x = keyword_likeness(unknown_bank(lang, [kw], 0, 24), tts_shots(kw, lang, 5, 0)[0], emb)
        own = f"{number}: {x[number]:.2f}" if number else "–"
        others = sorted(((v, w) for w, v in x.items() if w != number), reverse=True)[:3]
        near = ", ".join(f"{w}: {v:.2f}" for v, w in others)
        dropped = ", ".join(w for w, v in x.items() if v > LIKE_KEYWORD) or "none"
        lines.append(f"| {lang} | {kw} | {own} | {near} | {dropped} |")
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
