"""Progress bar for a call: elements done, rate and ETA on stderr."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

__all__ = ["make_progress"]


def make_progress(total: int, progress: bool | None, description: str) -> Any:
    """Return a tqdm bar over ``total`` elements, or ``None`` when it is off.

    Parameters
    ----------
    total : int
        Number of elements of the call.
    progress : bool or None
        ``True`` or ``False`` force the bar on or off; ``None`` shows it only
        when stderr is a terminal, so logs and CI output stay clean.
    description : str
        Text in front of the bar.
    """
    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    if not enabled:
        return None
    return tqdm(total=total, desc=description, unit="slice", file=sys.stderr, dynamic_ncols=True)
