"""Exception types shared by every engine."""

from __future__ import annotations

__all__ = ["BackendUnavailableError", "DivergenceError", "Interrupted", "OutputError"]


class DivergenceError(FloatingPointError):
    """A run produced a non-finite energy, gradient, force, position or velocity.

    Every engine raises this one type: walker ensembles, particle dynamics and replicas,
    FIRE quenches, SG-MCMC chains and first-passage runs.

    Parameters
    ----------
    message : str
        One line naming the step, the item that diverged and a likely cause.
    step : int
        First global step (or iteration) at which a non-finite value appeared.
    index : int
        Which walker, replica, chain or atom system diverged first (its index within
        the run's ensemble; 0 for a single system).
    partial_result : object
        The engine's own result type holding the state when the run stopped and every
        frame recorded before ``step`` (``None`` where the engine has nothing to return).

    Attributes
    ----------
    step, index, partial_result
        As above.
    """

    def __init__(self, message: str, step: int, index: int,
                 partial_result: object = None) -> None:
        super().__init__(message)
        self.step = int(step)
        self.index = int(index)
        self.partial_result = partial_result

    def __reduce__(self):  # picklable with its attributes (worker processes)
        return (type(self), (str(self), self.step, self.index, self.partial_result))


class Interrupted(KeyboardInterrupt):
    """A long call stopped by Ctrl-C (SIGINT) between two of its compiled chunks.

    The long calls of the Python API (``sample``, ``Sampler.run``, ``Dynamics.run``,
    ``run_replicas``, ``run_chains``, ``first_passage``) run their compiled kernel in
    chunks of a fraction of a second and stop at the end of the chunk during which
    Ctrl-C was pressed.  A subclass of :class:`KeyboardInterrupt`, so code that does not
    know it stops as before; code that does can keep the work done so far.

    Parameters
    ----------
    message : str
        One line naming the step reached.
    step : int
        Global step (or iteration) of the partial result: every step before it was
        completed, none after it was started.
    partial_result : object
        The engine's result type at the end of the last completed chunk, as
        :class:`DivergenceError` carries it (``None`` where the engine has nothing).

    Attributes
    ----------
    step, partial_result
        As above.
    """

    def __init__(self, message: str, step: int, partial_result: object = None) -> None:
        super().__init__(message)
        self.step = int(step)
        self.partial_result = partial_result

    def __reduce__(self):  # picklable with its attributes (worker processes)
        return (type(self), (str(self), self.step, self.partial_result))


class BackendUnavailableError(RuntimeError):
    """``backend="cuda"`` was asked for where it cannot run (message: one line)."""


class OutputError(ValueError):
    """An output location cannot be used as asked (exists, locked, not writable)."""
