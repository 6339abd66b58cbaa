"""Localization: from failing pairs to the culprit layer (and op), confirmed against amplified rounding."""
