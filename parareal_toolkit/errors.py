"""Every exception the toolkit defines, under one root: :class:`PararealError`.

The rule (the one place it is stated; the ``parareal`` command's error boundary applies it):

* **A refusal of an input** is an :class:`InputError` (the value is wrong; also a
  ``ValueError``) or an :class:`InputTypeError` (the kind of value is wrong; also a
  ``TypeError``). Every public entry point checks its arguments and raises these, naming the
  argument and echoing the value. Being subclasses of the builtin types, they are caught by
  ``except ValueError`` / ``except TypeError`` exactly as before.
* **A run-time failure the toolkit recognised** (Newton did not converge, a dataset file is
  malformed, a checkpoint is corrupt, a process group failed, the loss became non-finite,
  Ctrl-C stopped training) is another subclass of :class:`PararealError`, which also keeps the
  builtin base users already catch (``RuntimeError``, ``ValueError``, ``FileNotFoundError``).
* **Anything else is a bug**: a ``ValueError`` or ``TypeError`` raised inside numpy, torch or
  Python (a broadcast error, an operator on the wrong type) means the toolkit let a bad value
  through. The command line prints such an exception with its full traceback (exit status 1);
  a :class:`PararealError` is one line on stderr (exit status 2).

This module imports nothing but the standard library, so the command line can classify
exceptions without importing torch or scipy.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "PararealError",
    "InputError",
    "InputTypeError",
    "NewtonConvergenceError",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "CheckpointError",
    "DistributedError",
    "NonFiniteLossError",
    "TrainingInterrupted",
    "SteadyStateNotReached",
    "CliError",
]


class PararealError(Exception):
    """The root of every exception the toolkit raises on purpose: a refusal or a recognised failure."""


class InputError(PararealError, ValueError):
    """An argument's value is outside its declared domain; the message names the argument and echoes the value."""


class InputTypeError(PararealError, TypeError):
    """An argument is of the wrong kind; the message names the argument and echoes the value's type."""


class NewtonConvergenceError(PararealError, RuntimeError):
    """Newton's method did not converge on an implicit step (the step is too long for the nonlinearity)."""


class DatasetNotFoundError(PararealError, FileNotFoundError):
    """The dataset is missing or corrupt and ``download`` was not requested, or the download failed."""


class DatasetFormatError(PararealError, ValueError):
    """A dataset file passed its checksum but does not hold what the format says (the file is named)."""


class CheckpointError(PararealError, ValueError):
    """A checkpoint file is missing, truncated, corrupt or not one of ours."""


class DistributedError(PararealError, RuntimeError):
    """A ``torch.distributed`` process group failed: a rank died, stopped or did not answer in time.

    Raised by :class:`~parareal_toolkit.backends.distributed.DistributedBackend`, by the
    training loop's collectives and by every process group the toolkit sets up, at the
    latest when the group's timeout expires (``init_distributed(timeout=...)``,
    ``parareal train --timeout``). The message is one line: this process's rank, the
    operation, the ranks that may have gone silent, the timeout and the backend's reason.
    Also raised when a group is asked for outside torchrun (its variables are not set) and
    when not every rank joins the group within the timeout.
    """


class NonFiniteLossError(PararealError, RuntimeError):
    """The training loss or an epoch's metric became NaN or infinite; the last good checkpoint is kept.

    Parameters
    ----------
    message : str
        What became non-finite, where, and what was kept.
    metric : str
        ``"train_loss"`` (a batch's loss, or the epoch's mean) or ``"test_loss"``.
    value : float
        The non-finite value.
    epoch : int
        The epoch (1-based) it happened in (training) or after (evaluation).
    step : int or None
        The batch (1-based) for a batch's training loss, else ``None``.
    """

    def __init__(self, message: str, *, metric: str, value: float, epoch: int, step: int | None = None):
        super().__init__(message)
        self.metric = metric
        self.value = value
        self.epoch = epoch
        self.step = step


class TrainingInterrupted(PararealError):
    """Ctrl-C (SIGINT) stopped training after a batch; a checkpoint was saved.

    Parameters
    ----------
    message : str
        Where the run stopped and how to continue it.
    checkpoint : Path or None
        The checkpoint written (``None`` on ranks other than 0, which write none).
    """

    def __init__(self, message: str, checkpoint: Path | None):
        super().__init__(message)
        self.checkpoint = checkpoint


class SteadyStateNotReached(InputError):
    """The run is too short to show its periodic steady state: simulate more steps."""


class CliError(InputError):
    """A user error detected while running a command: reported in one line, exit status 2."""
