"""Dump a run to a folder and compare two dumps anywhere: `dump`, `record`, `load_weights`, `compare_dumps`.

A dump folder (`manifest`) holds what one side of `padiff.compare` records, step by step, in safetensors
files and one JSON manifest; `compare_dumps` judges two of them with the same code a live comparison
uses. Loading a dump parses JSON and raw tensor bytes only: nothing in a dump is ever executed.
"""

from .compare import compare_dumps
from .record import dump
from .recorder import Recorder, record
from .weights import load_weights

__all__ = ["dump", "record", "Recorder", "load_weights", "compare_dumps"]
