"""The deletion guard: may this export remove what disappeared from the pool?

A script, a bug or a bad migration that deletes part of a pool must not reach the backup at
the next export. The decision is taken once for the whole run, after every listing task has
finished (what each found gone is staged, not deleted), from counts alone:

- for each kind (users, groups, memberships), the items the table held before the run and
  those of them now gone from the pool;
- a kind may lose at most `max_fraction` of what it held, but always up to `floor` items (so
  that small pools, whose every deletion is a large fraction, keep working);
- if any kind is over its limit, nothing of any kind is removed ("held back"), unless the run
  was triggered to allow it.

Pure: counts in, a decision out. The operator that applies or holds is `export/deletions.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("users", "groups", "memberships")
DEFAULT_MAX_FRACTION = 0.05
DEFAULT_FLOOR = 10


@dataclass(frozen=True)
class Limits:
    max_fraction: float = DEFAULT_MAX_FRACTION
    floor: int = DEFAULT_FLOOR

    def allowed(self, stored: int) -> int:
        """How many of `stored` items one run may remove."""
        return max(self.floor, int(self.max_fraction * stored))


@dataclass
class Decision:
    apply: bool
    gone: dict[str, int]
    stored: dict[str, int]
    over: list[str] = field(default_factory=list)  # the kinds over their limit
    overridden: bool = False  # applied although over the limit: the run allowed it

    @property
    def held_back(self) -> dict[str, int]:
        return {kind: (0 if self.apply else self.gone[kind]) for kind in KINDS}

    def describe(self, limits: Limits) -> str:
        """The counts, for a log line or a message: no user data."""
        parts = []
        for kind in KINDS:
            gone, stored = self.gone[kind], self.stored[kind]
            share = f" ({gone / stored:.1%})" if stored else ""
            parts.append(f"{gone:,} of {stored:,} {kind}{share}")
        return (
            ", ".join(parts)
            + f"; one export removes at most {limits.max_fraction:.0%} of each, and always up to {limits.floor}"
        )


def counts_of(totals: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """(gone, stored) per kind from the listing tasks' summed counts (`users_gone`, `users_stored`...)."""
    gone = {kind: int(totals.get(f"{kind}_gone", 0)) for kind in KINDS}
    stored = {kind: int(totals.get(f"{kind}_stored", 0)) for kind in KINDS}
    return gone, stored


def decide(totals: dict[str, int], limits: Limits, allow_mass_delete: bool = False) -> Decision:
    """Whether the staged deletions of a run may be applied."""
    gone, stored = counts_of(totals)
    over = [kind for kind in KINDS if gone[kind] > limits.allowed(stored[kind])]
    return Decision(apply=not over or allow_mass_delete, gone=gone, stored=stored, over=over,
                    overridden=bool(over) and allow_mass_delete)
