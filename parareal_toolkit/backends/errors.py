"""What a failed collective raises, and the timeout groups get: importable without torch.

The CLI's error boundary catches :class:`DistributedError`, and the training configuration
defaults to :data:`DEFAULT_TIMEOUT_S`, without importing torch.
"""

from __future__ import annotations

from ..errors import DistributedError

__all__ = ["DistributedError", "DEFAULT_TIMEOUT_S"]

#: Seconds a collective waits for the other ranks before failing, in every process group the
#: toolkit sets up (gloo's own default is 30 minutes, NCCL's 10).
DEFAULT_TIMEOUT_S = 300.0
