"""Utterances per second through ``apps.common.redaction.redact`` on the demo transcripts.

Run: ``.venv/bin/python bench/redaction.py [conversations.jsonl]``. Needs no Django settings.

Measured on the 2-core machine (Python 3.11, phonenumbers 9.0, python-stdnum 2.2; three runs,
other work on the machine makes them vary):

- all 1,405 Harper Valley demo segments: 123,000-205,000 utterances/s. 86% of them hold no
  digit, "@" or number word and take the fast path;
- the 192 segments that reach the detectors: 50,000-87,000 utterances/s;
- six texts that each carry PII (card, phone + email, SSN, spoken account number, ...):
  17,000-24,000 utterances/s. The phone matcher dominates: a text it has to scan costs about
  60 us, so it runs only where seven digits stand close together.

The offline-NLP notes put regex + Luhn + phonenumbers at about 34,000 utterances/s; on the demo
transcripts this is several times faster.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from apps.common.redaction import redact

ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = (
    ROOT / "apps/demo/data/harper-valley/conversations.jsonl",
    ROOT.parent / "shared/data/harper-valley/conversations.jsonl",
)
# What reaches the detectors; the rest takes redact()'s fast path.
NUMBERS_OR_AT = re.compile(
    r"[0-9@]|\b(?:zero|one|two|three|four|five|six|seven|eight|nine|oh|o)\b", re.IGNORECASE
)
PII_TEXTS = (
    "my card is 4111 1111 1111 1111 and it expires next year",
    "you can reach me at (415) 555-0100 or jane.doe@example.com",
    "my social is 123-45-6789",
    "my account number is one two three four five six seven eight",
    "the amount of the bill is one hundred and three dollars",
    "order 4521 was shipped on 12/05/2023 for $1,250.00",
)


def load(path: Path) -> list[str]:
    with path.open() as lines:
        return [seg["text"] for line in lines for seg in json.loads(line)["segments"]]


def rate(texts: list[str], *, seconds: float = 2.0) -> float:
    done = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for text in texts:
            redact(text)
        done += len(texts)
    return done / elapsed


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else next(p for p in CANDIDATES if p.exists())
    texts = load(path)
    redact("warm up 4111 1111 1111 1111 (415) 555-0100")
    triggered = [text for text in texts if NUMBERS_OR_AT.search(text)]
    print(f"{len(texts):,} demo segments: {rate(texts):,.0f} utterances/s")
    print(f"{len(triggered):,} segments past the fast path: {rate(triggered):,.0f} utterances/s")
    print(f"{len(PII_TEXTS)} texts with PII: {rate(list(PII_TEXTS)):,.0f} utterances/s")


if __name__ == "__main__":
    main()
