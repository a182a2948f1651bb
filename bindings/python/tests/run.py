#!/usr/bin/env python3
"""Run the binding's pytest tests as a ctest test: exit 0 (pass), 1 (fail) or
77 (skip: pytest missing, or every selected test skipped, e.g. no /dev/kvm)."""

import os
import sys

SKIP = 77

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))  # the package, uninstalled
try:
    import pytest
except ImportError:
    print("SKIP: pytest is not installed (Debian: python3-pytest)")
    sys.exit(SKIP)


class Tally:
    def __init__(self) -> None:
        self.passed = self.failed = self.skipped = 0
        self.reasons: list[str] = []

    def pytest_runtest_logreport(self, report):  # type: ignore[no-untyped-def]
        if report.skipped:
            self.skipped += 1
            if isinstance(report.longrepr, tuple):
                self.reasons.append(str(report.longrepr[2]))
        elif report.failed:
            self.failed += 1
        elif report.when == "call":
            self.passed += 1


tally = Tally()
args = sys.argv[1:]
if not any(a.endswith(".py") or os.path.isdir(a) for a in args):
    args.append(here)
rc = pytest.main(["-p", "no:cacheprovider", "-rs"] + args, plugins=[tally])
if rc == 5 or (rc == 0 and tally.passed == 0 and tally.skipped > 0):
    reason = tally.reasons[0] if tally.reasons else "no test selected"
    if reason.startswith("Skipped: "):
        reason = reason[len("Skipped: "):]
    print(f"SKIP: {reason}")  # one line, as tests/kvm/no-kvm-check.sh wants
    sys.exit(SKIP)
sys.exit(0 if rc == 0 else 1)
