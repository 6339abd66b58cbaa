"""Judging: the stored base trace, raw compared against it as it runs, metrics and tolerances."""
