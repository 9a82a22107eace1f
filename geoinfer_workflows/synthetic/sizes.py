"""Named data sizes, so a benchmark or a test says which workload it means, never a number.

`seed` is the shape of the reference GEO-INFER examples, `standard` is 100 times that,
`large` is at least one million records (the guide's stress size).
"""

from __future__ import annotations

from typing import Literal

from geoinfer_workflows.errors import ParameterError

Size = Literal["seed", "standard", "large"]
SIZES: tuple[Size, ...] = ("seed", "standard", "large")


def check_size(size: str) -> Size:
    """Validate a size name early, so a typo fails with the list of valid names."""
    if size not in SIZES:
        raise ParameterError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}")
    return size  # type: ignore[return-value]
