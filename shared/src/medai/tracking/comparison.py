"""How a newly trained version compares with the previous challenger and the champion.

Training always makes its version the challenger, so the person who trained it must be
told at once whether it is any good: a 1-epoch model looks like any other in the
registry. The figure compared is each version's run metric that ranks a training
(``best_val_dice_mean``, ``best_val_auroc_macro``); both kits' metrics are
higher-is-better. Pure text, so the wording is tested without MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VersionFigure:
    """A registered version and its validation metric (None when the run lacks it)."""

    version: str
    value: float | None


def _figure(label: str, new: float | None, other: VersionFigure) -> str:
    if other.value is None:
        return f"{label} v{other.version} unknown"
    if new is None:
        return f"{label} v{other.version} {other.value:.3f}"
    return f"{label} v{other.version} {other.value:.3f} ({new - other.value:+.3f})"


def _relation(new: float | None, other: VersionFigure) -> str:
    if new is None or other.value is None:
        return "not comparable with"
    if new > other.value:
        return "better than"
    if new < other.value:
        return "worse than"
    return "as good as"


def _verdict(new: float | None, references: list[tuple[str, VersionFigure]]) -> str:
    relations = [(_relation(new, figure), label) for label, figure in references]
    if len(relations) == 2 and relations[0][0] == relations[1][0]:  # noqa: PLR2004 - a pair
        relation = relations[0][0]
        return f"{relation} {'either' if relation.startswith('not') else 'both'}"
    return ", ".join(f"{relation} {label}" for relation, label in relations)


def comparison_lines(
    *,
    project: str,
    model: str,
    metric: str,
    new: VersionFigure,
    previous: VersionFigure | None,
    champion: VersionFigure | None,
) -> tuple[str, str]:
    """Two lines for the end of ``invoke train``: the figures, then the verdict and what next.

    Args:
        project: Project name, for the ``invoke deploy`` command suggested.
        model: Registered model name.
        metric: The validation metric's name.
        new: The version just registered.
        previous: The challenger before this training, if any.
        champion: The champion, if any.

    Returns:
        e.g. ``ct-seg version 8: best_val_dice_mean 0.031; previous challenger v7 0.929
        (-0.898), champion v5 0.931 (-0.900)`` and ``worse than both: the champion v5 keeps
        serving; ...``.
    """
    value = "unknown" if new.value is None else f"{new.value:.3f}"
    references: list[tuple[str, VersionFigure]] = []
    if previous is not None and (champion is None or previous.version != champion.version):
        references.append(("the previous challenger", previous))
    if champion is not None:
        references.append(("the champion", champion))
    parts = []
    if previous is None:
        parts.append("no previous challenger")
    elif champion is not None and previous.version == champion.version:
        parts.append(_figure("previous challenger and champion", new.value, champion))
    else:
        parts.append(_figure("previous challenger", new.value, previous))
    if champion is None:
        parts.append("no champion yet")
    elif previous is None or previous.version != champion.version:
        parts.append(_figure("champion", new.value, champion))
    figures = f"{model} version {new.version}: {metric} {value}; " + ", ".join(parts)
    deploy = f"`uv run invoke deploy --project={project}`"
    if champion is None:
        after = (
            f"production serves nothing until {deploy} promotes a champion; "
            "development serves this challenger with a warning"
        )
        verdict = _verdict(new.value, references) if references else "no champion yet"
    else:
        after = (
            f"the champion v{champion.version} keeps serving; {deploy} promotes this version "
            "only if it beats the champion on the evaluation set"
        )
        verdict = _verdict(new.value, references)
    return figures, f"{verdict}: {after}"
