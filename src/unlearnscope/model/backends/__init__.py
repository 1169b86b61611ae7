"""Other execution backends for the same canonical captures: TransformerLens and nnsight.

Each exposes ``run_with_cache(subject, inputs, names) -> (logits, {name: tensor})`` with our
canonical names and shapes, so results can be compared with the native hooks (tests/parity).
"""
