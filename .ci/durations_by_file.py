"""Sum pytest's ``--durations=0`` lines per test file (setup, call and teardown together).

    python3 -m pytest --durations=0 | tee pytest.log
    python3 .ci/durations_by_file.py < pytest.log

Prints one line per file, slowest first, and the total: the figures of docs/testing.md.
"""

import re
import sys
from collections import defaultdict

LINE = re.compile(r"^(\d+(?:\.\d+)?)s (setup|call|teardown) +(tests/[^:]+\.py)::")

totals: dict[str, float] = defaultdict(float)
for line in sys.stdin:
    match = LINE.match(line.strip())
    if match:
        totals[match[3]] += float(match[1])
for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
    print(f"{seconds:8.1f} s  {name}")
print(f"{sum(totals.values()):8.1f} s  in all (durations under 5 ms are not printed by pytest)")
