"""The process-wide settings of a training run, set on entry and restored on exit.

A run changes state that belongs to the whole process: the random generators (torch, CUDA,
numpy, Python's ``random``), deterministic algorithms and ``CUBLAS_WORKSPACE_CONFIG``
(``deterministic=True``), cuDNN's autotuner, torch's number of intra-op threads and the
SIGINT handler (the first Ctrl-C becomes a request to stop after the current batch).
:func:`run_environment` sets them for the ``with`` block and gives the caller (a notebook,
a test session, a sweep over runs) its own settings back afterwards, also when the run
fails.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

import numpy as np
import torch

from ..errors import InputError, InputTypeError
from .config import TrainConfig

__all__ = ["RunEnvironment", "run_environment", "seed_everything"]

# the smallest workspace setting with which cuBLAS is deterministic (CUDA >= 10.2)
_CUBLAS_DETERMINISTIC_WORKSPACE = ":4096:8"


def seed_everything(seed: int, device: torch.device | str = "cpu") -> None:
    """Seed torch's CPU generator, numpy's and Python's global generators (and CUDA's for a CUDA ``device``).

    CUDA is seeded only for CUDA runs, so that a CPU run never initialises or changes it.
    numpy's legacy seeding takes 32 bits; ``seed`` is reduced modulo ``2**32`` for it.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.default_generator.manual_seed(seed)
    if torch.device(device).type == "cuda":
        torch.cuda.manual_seed_all(seed)


@dataclass
class _ProcessSettings:
    """The process-wide values a run may change, as found before it."""

    cublas_workspace: str | None
    deterministic: bool
    deterministic_warn_only: bool
    cudnn_benchmark: bool
    cudnn_deterministic: bool
    threads: int
    torch_rng: torch.Tensor
    cuda_rng: list[torch.Tensor] | None
    numpy_rng: Any
    python_rng: Any

    @classmethod
    def capture(cls, *, cuda: bool) -> _ProcessSettings:
        return cls(
            cublas_workspace=os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
            deterministic=torch.are_deterministic_algorithms_enabled(),
            deterministic_warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
            cudnn_benchmark=torch.backends.cudnn.benchmark,
            cudnn_deterministic=torch.backends.cudnn.deterministic,
            threads=torch.get_num_threads(),
            torch_rng=torch.get_rng_state(),
            cuda_rng=torch.cuda.get_rng_state_all() if cuda else None,
            numpy_rng=np.random.get_state(),
            python_rng=random.getstate(),
        )

    def restore(self) -> None:
        if self.cublas_workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = self.cublas_workspace
        torch.use_deterministic_algorithms(self.deterministic, warn_only=self.deterministic_warn_only)
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        torch.backends.cudnn.deterministic = self.cudnn_deterministic
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        np.random.set_state(self.numpy_rng)
        random.setstate(self.python_rng)


class RunEnvironment:
    """Context manager: a run's process-wide settings inside the ``with`` block, the caller's after it.

    On entry it records the random generators' states and the flags below, then sets, for
    ``config.deterministic``, ``CUBLAS_WORKSPACE_CONFIG`` (unless already set),
    :func:`torch.use_deterministic_algorithms` and ``cudnn.benchmark = False``, or else
    ``cudnn.benchmark = True`` on CUDA; it sets torch's intra-op threads to
    ``config.threads`` (default: 1 on the CPU, as ``parareal bench`` does: a batch's tensors
    are small and the extra threads of a busy machine spin-wait; torch's own default on
    CUDA); it seeds every generator from
    ``config.seed`` (``seed_everything()``) and, in the main thread, turns SIGINT into
    ``stop_requested`` (a second Ctrl-C raises ``KeyboardInterrupt``). On exit, also
    after an exception, everything is put back.

    A ``deterministic`` run on the CPU uses one thread and refuses ``threads > 1``
    (``ValueError``): torch's CPU convolutions, BatchNorm and matrix products sum in an
    order that depends on the thread count (measured: the weights of a depth-11 epoch
    differ by about 5e-5 between 1 and 2 threads), so its results would depend on it.

    Parameters
    ----------
    config : TrainConfig
        The run (``deterministic`` and ``seed`` are read).
    device : torch.device or str
        The run's device; CUDA's generators are recorded and seeded only for CUDA.
    """

    def __init__(self, config: TrainConfig, device: torch.device | str = "cpu"):
        if not isinstance(config, TrainConfig):
            raise InputTypeError(f"`config` must be a TrainConfig; got {type(config).__name__}.")
        self.config = config
        self.device = torch.device(device)
        self.stop_requested = False
        self._saved: _ProcessSettings | None = None
        self._previous_sigint: Any = None

    def __enter__(self) -> RunEnvironment:
        threads = self.config.threads
        if self.device.type != "cuda":
            if self.config.deterministic and threads not in (None, 1):
                raise InputError(
                    f"`threads` must be 1 for a deterministic run on the CPU (torch's CPU kernels sum in an "
                    f"order that depends on the thread count); got threads={threads}."
                )
            threads = 1 if threads is None else threads
        self._saved = _ProcessSettings.capture(cuda=self.device.type == "cuda")
        self.stop_requested = False
        try:
            if threads is not None:
                torch.set_num_threads(threads)
            if self.config.deterministic:
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", _CUBLAS_DETERMINISTIC_WORKSPACE)
                torch.use_deterministic_algorithms(True)
                torch.backends.cudnn.benchmark = False
            elif self.device.type == "cuda":
                torch.backends.cudnn.benchmark = True
            seed_everything(self.config.seed, self.device)
            if threading.current_thread() is threading.main_thread():
                self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)
        except BaseException:
            self._restore()
            raise
        return self

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None
        if self._saved is not None:
            self._saved.restore()
            self._saved = None


def run_environment(config: TrainConfig, device: torch.device | str = "cpu") -> RunEnvironment:
    """The process-wide settings of the run ``config`` for a ``with`` block (see :class:`RunEnvironment`).

    Returns
    -------
    RunEnvironment
        Enter it with ``with``; its ``stop_requested`` turns true after a Ctrl-C.
    """
    return RunEnvironment(config, device)
