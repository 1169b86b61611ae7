"""Pronounceable made-up words from consonant-vowel syllables (seeded)."""

from __future__ import annotations

import random

CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"


def made_up_words(
    n: int, rng: random.Random, syllables: tuple[int, int] = (2, 3), exclude: set[str] = frozenset()
) -> list[str]:
    """``n`` distinct words of 2–3 CV syllables, none in ``exclude``."""
    out: list[str] = []
    seen = set(exclude)
    while len(out) < n:
        w = "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(*syllables)))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out
