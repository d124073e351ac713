"""Imported ahead of need (fork server, idle driver): pyarrow's lazy pandas import, paid once, off the hot path."""

import numpy as np
import pyarrow as pa

pa.array(np.zeros(1, np.int64))  # pyarrow imports pandas the first time it converts a numpy array
