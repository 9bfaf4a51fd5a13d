"""Batch evaluation: `from eval import run_eval, load_set`, or `citeqa eval SET`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.run import EvalReport, run_eval
    from eval.sets import EvalSet, load_set

__all__ = ["EvalReport", "EvalSet", "load_set", "run_eval"]


def __getattr__(name: str) -> Any:
    if name in ("run_eval", "EvalReport"):
        from eval import run

        return getattr(run, name)
    if name in ("load_set", "EvalSet"):
        from eval import sets

        return getattr(sets, name)
    raise AttributeError(name)
