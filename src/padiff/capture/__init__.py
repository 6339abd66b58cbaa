"""Capture: run one model under scoped hooks and report every layer call, tensor and gradient to a sink."""
