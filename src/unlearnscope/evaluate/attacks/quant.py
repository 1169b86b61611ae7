"""``quant``: recall after a ``bits``-bit round trip of the weights (per-channel, `model.quantize`),
one metric ``quant{bits}`` per width — suppression that lives in small weight changes does not
survive rounding (Zhang et al., "Catastrophic failure of LLM unlearning via quantization")."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import UnlearnscopeError
from ..registry import Measurement, readout
from ..rki import Metric
from ..worst_case import option_means, worst_option

BITS = (2, 3, 4, 8)


@dataclass(frozen=True)
class QuantSettings:
    bits: tuple[int, ...] = (8, 4)  # weight round trips

    def validate(self) -> None:
        if not self.bits or any(b not in BITS for b in self.bits):
            raise UnlearnscopeError(f"quantization bits must be among {BITS}, got {self.bits}")


def _quantized(subject, facts, order, bits):
    from ..whitebox import quantized_recall

    return quantized_recall(subject, facts, order, bits)[None]


@readout(
    "quant",
    "adversarial",
    config=QuantSettings,
    metrics="quant{bits}",
    requires=("lm_head", "original"),
    on_noise=False,
    worst_case=True,
    section="attacks",
    aliases=("quantize",),
    source="Zhang et al. 2025, quantization round trips",
)
def measure(m: Measurement) -> list[Metric]:
    """recall after a bits-bit round trip of the weights"""
    ms, out = m.models, []
    for bits in m.settings.bits:
        vals = ms.map(f"quant{bits}", _quantized, m.data.forget, m.data.order, bits, roles=list(ms.roles))
        out.append(worst_option(f"quant{bits}", vals, m.data.order, m.seed, {"bits": bits})[0])
        m.section[f"quant{bits}"] = {"options": [f"{bits}-bit"], "recovered": option_means(vals)}
    return out
