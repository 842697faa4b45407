"""Hypothesis profiles of the fuzzing suite (tests/test_fuzz.py).

``ci`` (the default): few, derandomised examples, so the suite adds well under a
minute to CI and fails the same way on every run.  ``long``: many random
examples for a deeper search, run by hand::

    python -m pytest tests/test_fuzz.py --hypothesis-profile=long
"""
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the test extra is not installed: test_fuzz.py skips itself
    pass
else:
    _common = dict(deadline=None, print_blob=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.filter_too_much])
    settings.register_profile("ci", max_examples=50, derandomize=True, database=None,
                              **_common)
    settings.register_profile("long", max_examples=1000, **_common)
    settings.load_profile("ci")
