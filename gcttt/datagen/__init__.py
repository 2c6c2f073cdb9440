"""Making datasets: OGBench's download, local generation in OGBench's format (the collectors and
the SAC ant expert they drive), and `ensure_dataset_files`, which picks between them.

It stands above the library core (it drives agents and plays episodes to collect data) and
nothing in the core imports it: the core reads dataset files (`gcttt.data`), this package makes
them.
"""

from gcttt.datagen.fetch import Fetch, ensure_dataset_files
from gcttt.datagen.generation import SUPPORTED, generate_dataset

__all__ = ["SUPPORTED", "Fetch", "ensure_dataset_files", "generate_dataset"]
