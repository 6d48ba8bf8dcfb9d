"""Trading controls, under their public name: ``from txsmarkets.controls import Controls``.

The module itself is `txsmarkets.client.controls`; this one only gives it the name the
documentation uses.
"""

from txsmarkets.client.controls import CONTROL_NAMES, Controls, InvalidControls
from txsmarkets.exceptions import OrderRefused

__all__ = ["CONTROL_NAMES", "Controls", "InvalidControls", "OrderRefused"]
