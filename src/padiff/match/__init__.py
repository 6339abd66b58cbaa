"""Matching: which layers of the two models correspond (LayerMap, kinds of layer classes, call alignment)."""
