"""The fuzz suite's session hook: print how many inputs were generated, and fail a full run of
the suite that generated fewer than the issue's floor (helpers live in fuzzkit.py)."""

from __future__ import annotations

from fuzzkit import GENERATED, MIN_INPUTS


def pytest_sessionfinish(session, exitstatus):
    total = sum(GENERATED.values())
    if not total:
        return
    detail = ", ".join(f"{kind} {n}" for kind, n in sorted(GENERATED.items()))
    print(f"\nfuzz: {total} generated inputs ({detail})")
    ran_all = not session.config.option.keyword and not session.config.option.markexpr and session.testsfailed == 0
    if ran_all and session.testscollected >= 20 and total < MIN_INPUTS:
        print(f"fuzz: fewer than the {MIN_INPUTS} generated inputs the suite promises")
        session.exitstatus = 1
