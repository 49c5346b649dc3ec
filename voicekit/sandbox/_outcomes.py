"""The outcome plan: whether each placed call is answered or missed, and for how long it rings and talks."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

__all__ = ["CallRule", "Decision", "OutcomePlan"]


@dataclass(frozen=True, slots=True)
class CallRule:
    """What happens to calls to one number; ``None`` fields fall back to the plan's defaults.

    Attributes:
        answer: ``True`` always answered, ``False`` always missed, ``None`` drawn from the rate.
        ring: seconds it rings before it is answered (or given up on).
        talk: seconds it talks once answered.
        hangup_reason: the TeleCMI ``hangup_reason`` reported when the call ends by itself.
    """

    answer: bool | None = None
    ring: float | None = None
    talk: float | None = None
    hangup_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The fate of one placed call, on the simulated timeline (seconds)."""

    answered: bool
    ring: float
    talk: float
    hangup_reason: str


#: TeleCMI lists ``sent_bye, recv_bye, recv_cancel, sent_reject`` without defining them. Read as
#: SIP seen by the platform: the callee hanging up is ``recv_bye``; a call nobody answers is given
#: up on by the platform (``sent_reject`` here). Uncertain: change these two constants if the
#: vendor says otherwise.
ANSWERED_HANGUP_REASON = "recv_bye"
MISSED_HANGUP_REASON = "sent_reject"
#: A call ended through call control (``action: hangup``): the platform sent the BYE.
CONTROL_HANGUP_REASON = "sent_bye"


# Unseeded draws share one generator: seeding a fresh one per call would cost more than the call.
_shared = random.Random()


def _check_seconds(name: str, value: float | None) -> None:
    if value is not None and not (isinstance(value, int | float) and not isinstance(value, bool) and value >= 0):
        raise ValueError(f"{name} must be a number of seconds >= 0")


@dataclass
class OutcomePlan:
    """Answer rate, ring and talk durations, and per-number rules; deterministic when seeded.

    The draw for the n-th call to a number depends only on ``(seed, number, n)``, never on the
    order in which calls to different numbers arrive, so a concurrent bulk run is reproducible.

    Attributes:
        answer_rate: probability (0..1) that a call without a rule is answered.
        ring: default seconds of ringing before the answer (or before a missed call ends).
        talk: default seconds of talk once answered; ``None`` uses the sandbox's ``billedsec``
            (TeleCMI) or ``huawei_talk_duration`` (Huawei).
        seed: makes the draws reproducible; ``None`` draws fresh randomness.
        rules: per-number rules (digits as a string), see :meth:`set`.
    """

    answer_rate: float = 1.0
    ring: float = 3.0
    talk: float | None = None
    seed: int | str | None = None
    rules: dict[str, CallRule] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.answer_rate, bool) or not 0.0 <= self.answer_rate <= 1.0:
            raise ValueError("answer_rate must be between 0 and 1")
        _check_seconds("ring", self.ring)
        _check_seconds("talk", self.talk)

    def set(
        self,
        number: str | int,
        *,
        answer: bool | None = None,
        ring: float | None = None,
        talk: float | None = None,
        hangup_reason: str | None = None,
    ) -> CallRule:
        """Set the rule for calls to `number` (replacing any earlier rule) and return it."""
        _check_seconds("ring", ring)
        _check_seconds("talk", talk)
        rule = CallRule(answer=answer, ring=ring, talk=talk, hangup_reason=hangup_reason)
        self.rules[str(number)] = rule
        return rule

    def decide(self, number: str, *, default_talk: float) -> Decision:
        """The fate of the next call to `number` (digits as a string)."""
        with self._lock:
            nth = self._counts.get(number, 0)
            self._counts[number] = nth + 1
        rule = self.rules.get(number, CallRule())
        if rule.answer is None:
            if self.answer_rate >= 1.0 or self.answer_rate <= 0.0:
                answered = self.answer_rate >= 1.0  # nothing to draw: keeps bulk runs cheap
            elif self.seed is not None:
                answered = random.Random(f"{self.seed}:{number}:{nth}").random() < self.answer_rate
            else:
                answered = _shared.random() < self.answer_rate
        else:
            answered = rule.answer
        ring = self.ring if rule.ring is None else rule.ring
        talk = (self.talk if self.talk is not None else default_talk) if rule.talk is None else rule.talk
        default_reason = ANSWERED_HANGUP_REASON if answered else MISSED_HANGUP_REASON
        return Decision(
            answered=answered,
            ring=float(ring),
            talk=float(talk) if answered else 0.0,
            hangup_reason=rule.hangup_reason or default_reason,
        )

    def reset_counts(self) -> None:
        """Forget how many calls each number got (the draws start over)."""
        with self._lock:
            self._counts.clear()
