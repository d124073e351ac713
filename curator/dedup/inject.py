"""Inject duplicates with known ground truth into a corpus: to measure dedup precision and recall.

Kinds: exact copies, case/whitespace variants, near copies with a share of word edits, and multi-copy
clusters (chains: each copy edits the previous one). The truth maps every injected id to its base id.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

_WS = re.compile(r"\s+")


@dataclass
class InjectionPlan:
    exact: float = 0.03  # share of base documents that get one exact copy
    variant: float = 0.02  # ... one case/whitespace variant
    near: float = 0.12  # ... one near copy with `edit_range` word edits
    chains: float = 0.01  # ... a chain of `chain_length` copies, each editing the previous
    chain_length: int = 3
    edit_range: tuple[float, float] = (0.01, 0.15)
    min_words: int = 30  # only documents this long are copied (short ones cannot carry edits)


@dataclass
class Injected:
    docs: list[dict]
    truth: dict[str, str] = field(default_factory=dict)  # injected id -> base id
    kind: dict[str, str] = field(default_factory=dict)  # injected id -> exact | variant | near | chain
    edit_rate: dict[str, float] = field(default_factory=dict)


def edit_words(text: str, rate: float, rng: random.Random) -> str:
    """Replace, delete or insert round(rate * words) words at random positions."""
    words = text.split()
    for _ in range(max(1, round(rate * len(words)))):
        op = rng.random()
        pos = rng.randrange(len(words)) if words else 0
        if op < 0.5 and words:
            words[pos] = f"edit{rng.getrandbits(32):x}"
        elif op < 0.75 and len(words) > 1:
            del words[pos]
        else:
            words.insert(pos, f"ins{rng.getrandbits(32):x}")
    return " ".join(words)


def case_whitespace_variant(text: str, rng: random.Random) -> str:
    """Same text up to case and whitespace: what exact dedup's normalisation must see through."""
    words = _WS.split(text.strip())
    out = []
    for w in words:
        r = rng.random()
        out.append(w.upper() if r < 0.2 else w.capitalize() if r < 0.4 else w)
    seps = ["  ", "\n", "\t", " \n "]
    return " ".join(w + (rng.choice(seps) if rng.random() < 0.1 else "") for w in out)


def inject_duplicates(docs: list[dict], plan: InjectionPlan | None = None, seed: int = 0) -> Injected:
    """Base documents plus injected copies, shuffled deterministically; ids must be unique in `docs`."""
    plan = plan or InjectionPlan()
    rng = random.Random(seed)
    eligible = [d for d in docs if len(d["text"].split()) >= plan.min_words]
    rng.shuffle(eligible)
    result = Injected(docs=list(docs))
    counts = {
        "exact": round(plan.exact * len(docs)),
        "variant": round(plan.variant * len(docs)),
        "near": round(plan.near * len(docs)),
        "chain": round(plan.chains * len(docs)),
    }
    pool = iter(eligible)
    for kind, count in counts.items():
        for i in range(count):
            base = next(pool, None)
            if base is None:
                break
            copies = []
            if kind == "exact":
                copies.append((base["text"], 0.0))
            elif kind == "variant":
                copies.append((case_whitespace_variant(base["text"], rng), 0.0))
            elif kind == "near":
                rate = rng.uniform(*plan.edit_range)
                copies.append((edit_words(base["text"], rate, rng), rate))
            else:
                text = base["text"]
                for _ in range(plan.chain_length):
                    rate = rng.uniform(plan.edit_range[0], plan.edit_range[1] / 2)
                    text = edit_words(text, rate, rng)
                    copies.append((text, rate))
            for j, (text, rate) in enumerate(copies):
                new_id = f"{base['id']}~{kind}{i}.{j}"
                result.docs.append({**base, "id": new_id, "text": text})
                result.truth[new_id] = base["id"]
                result.kind[new_id] = kind
                result.edit_rate[new_id] = rate
    rng.shuffle(result.docs)
    return result
