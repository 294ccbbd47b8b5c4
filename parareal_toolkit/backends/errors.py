"""What a failed collective raises, and the timeout groups get: importable without torch.

The CLI's error boundary catches :class:`DistributedError`, and the training configuration
defaults to :data:`DEFAULT_TIMEOUT_S`, without importing torch.
"""

from __future__ import annotations

__all__ = ["DistributedError", "DEFAULT_TIMEOUT_S"]

#: Seconds a collective waits for the other ranks before failing, in every process group the
#: toolkit sets up (gloo's own default is 30 minutes, NCCL's 10).
DEFAULT_TIMEOUT_S = 300.0


class DistributedError(RuntimeError):
    """A ``torch.distributed`` process group failed: a rank died, stopped or did not answer in time.

    Raised by :class:`~parareal_toolkit.backends.distributed.DistributedBackend`, by the
    training loop's collectives and by every process group the toolkit sets up, at the
    latest when the group's timeout expires (``init_distributed(timeout=...)``,
    ``parareal train --timeout``). The message is one line: this process's rank, the
    operation, the ranks that may have gone silent, the timeout and the backend's reason.
    Also raised when a group is asked for outside torchrun (its variables are not set) and
    when not every rank joins the group within the timeout.
    """
