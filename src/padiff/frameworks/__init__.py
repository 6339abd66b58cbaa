"""Framework adapters; each is imported only when its framework already is."""
