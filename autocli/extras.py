"""Optional extras: the libraries a modality or an engine needs, imported only by the code that uses them.

need("PIL", "vision") returns the module, or stops the command with one line naming the extra to install,
so that text users keep the small install and never see an ImportError.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from autocli.errors import Unsupported

# extra -> what it is for, for the message
EXTRAS = {
    "vision": "reading images",
    "audio": "reading and resampling audio",
    "eval": "chrF",
    "parquet": "reading and writing Parquet",
    "ray": "--engine ray",
    "remote": "reading and writing s3:// and gs:// objects",
    "onnx": "--backend onnxruntime",
}


def need(module: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        what = EXTRAS.get(extra, extra)
        raise Unsupported(f"{what} needs the optional package {module.split('.')[0]!r}, which is not installed",
                          f"pip install 'autocli[{extra}]'") from None
