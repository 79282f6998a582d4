"""The core's vocabulary for columns of numbers: NumPy array types and time units.

Instants and durations are int64 epoch microseconds throughout the core; these
constants convert them, and the aliases name the arrays that carry them. Each
is spelled here once, so that a module cannot drift to its own idea of a unit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]
Int16Array = npt.NDArray[np.int16]
Int32Array = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]
UInt8Array = npt.NDArray[np.uint8]
UInt64Array = npt.NDArray[np.uint64]
FloatArray = npt.NDArray[np.float64]
# Row positions, as argsort, flatnonzero and searchsorted return them.
IndexArray = npt.NDArray[np.intp]

MICROS_PER_SECOND = 1_000_000
MICROS_PER_MINUTE = 60 * MICROS_PER_SECOND
MICROS_PER_HOUR = 60 * MICROS_PER_MINUTE
SECONDS_PER_DAY = 86_400
MINUTES_PER_DAY = 24 * 60
