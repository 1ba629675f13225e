"""VHD (Microsoft Virtual Hard Disk) format library, blktap flavoured.

Knows nothing of XenAPI.  Standard library only.
"""

from .format import BLOCK_SIZE, VHDError
from .disk import VHD, create_fixed, create_dynamic, create_differencing
from .ops import coalesce, check, export_raw, import_raw

__all__ = ["VHD", "VHDError", "BLOCK_SIZE", "create_fixed", "create_dynamic",
           "create_differencing", "coalesce", "check", "export_raw", "import_raw"]
