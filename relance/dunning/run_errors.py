"""Why a run on the queue failed, as its record says it: written in English (``relance
runs``, the API and the audit trail read the record as stored) and shown to a person in
their language (``shown``, the console's Runs page). What a part's code raised is quoted as
it is: an exception's own text is not ours to translate."""

from __future__ import annotations

import re

from django.utils.translation import gettext, gettext_noop

from relance.accounts.identity import NO_REPLY_ADDRESS
from relance.dunning.loading import NO_SCENARIO
from relance.dunning.segments import NO_DEFAULT

BEGINNING = gettext_noop("the beginning of the run failed: %(reason)s")
PART = gettext_noop("part %(part)s of %(parts)s failed (attempts: %(attempts)s): %(reason)s")
# PART as records written before said it, read back as PART.
PART_BEFORE = "part %(part)s of %(parts)s failed after %(attempts)s attempt(s): %(reason)s"
WORKER = gettext_noop("the worker %(worker)s stopped (nothing written for %(seconds)s s)")
BEGINNER = gettext_noop("the worker that began the run stopped")
STILL_QUEUED = gettext_noop(
    "organisation %(organisation)s: the run of %(queued)s is still on the queue"
    " (%(progress)s); enqueue %(run_date)s when it has ended"
)
STANDS = gettext_noop(
    "%(reason)s. What the other parts wrote stands: run the same date again to finish "
    "(nothing is planned twice)."
)


def written(sentence: str, **values: object) -> str:
    """One of the sentences above, as the record keeps it."""
    return sentence % values


def _pattern(sentence: str) -> re.Pattern[str]:
    # Each %(name)s of the sentence captures what was written in its place.
    return re.compile(re.sub(r"%\\\((\w+)\\\)s", r"(?P<\1>.*?)", re.escape(sentence)), re.DOTALL)


# The outermost first: a run's error is STANDS around PART around WORKER, say.
# Why a run cannot start, said by the modules that refuse it, is read back the same way.
_PATTERNS = [
    (s, _pattern(s))
    for s in (STANDS, PART, BEGINNING, WORKER, BEGINNER, STILL_QUEUED, NO_REPLY_ADDRESS,
              NO_SCENARIO, NO_DEFAULT)
] + [(PART, _pattern(PART_BEFORE))]  # fmt: skip


def shown(text: str) -> str:
    """``text`` in the active language when ``written`` wrote it (the reasons it quotes
    too); any other text (an exception's, a record written before) as it is."""
    for sentence, pattern in _PATTERNS:
        if found := pattern.fullmatch(text):
            values = {k: shown(v) if k == "reason" else v for k, v in found.groupdict().items()}
            return gettext(sentence) % values
    return text
