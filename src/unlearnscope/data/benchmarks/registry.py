"""The registry of benchmark converters (`BENCHMARKS`): one `Benchmark` per module.

A converter reads a benchmark's own published files (a local directory or file) into target rows
(`common.Converted`).  ``options`` names the conversion options it takes (``split``, ``retain``,
``subset``: `ConvertOptions`); an option given to a benchmark that does not take it is an error.
``hub_configs(split)``: the hub configs to download for an ``hf:OWNER/NAME`` source (empty: the
hub layout cannot be converted; download the files first).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...registry import Registry
from .common import Converted

OPTIONS = ("split", "retain", "subset")


@dataclass(frozen=True)
class ConvertOptions:
    split: str | None = None  # TOFU: the forget split (01 | 05 | 10)
    retain: Path | None = None  # WMDP: retain questions in the MMLU layout
    subset: str | None = None  # WMDP: wmdp-bio | wmdp-chem | wmdp-cyber

    def given(self) -> list[str]:
        return [o for o in OPTIONS if getattr(self, o) is not None]


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    convert: Callable[[Path, ConvertOptions], Converted]
    hub_configs: Callable[[str | None], list[str]] = lambda split: []
    options: tuple[str, ...] = ()
    source: str = ""


BENCHMARKS: Registry[Benchmark] = Registry("benchmark")


def register(benchmark: Benchmark, *, aliases: tuple[str, ...] = (), replace: bool = False) -> Benchmark:
    return BENCHMARKS.register(
        benchmark, aliases=aliases, replace=replace, origin=sys._getframe(1).f_globals.get("__name__")
    )
