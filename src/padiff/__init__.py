"""padiff: find where two implementations of one deep-learning model part ways."""

from .comparison import compare
from .compat import add_special_init, assign_weight, auto_diff
from .dump import compare_dumps, dump, load_weights, record
from .errors import DumpError, InputError, PadiffError, RunError, StructureError, WeightTransferError
from .match.layermap import LayerMap
from .report import Report
from .report.ranked import RankedReport

__version__ = "0.3.0.dev0"

__all__ = [
    "compare",
    "dump",
    "record",
    "load_weights",
    "compare_dumps",
    "Report",
    "RankedReport",
    "LayerMap",
    "auto_diff",
    "assign_weight",
    "add_special_init",
    "PadiffError",
    "StructureError",
    "WeightTransferError",
    "InputError",
    "RunError",
    "DumpError",
]
