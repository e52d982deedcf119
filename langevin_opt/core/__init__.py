"""Conventions shared by every engine (floor 1: imports nothing else from the package).

* :mod:`.errors`: the package's exception types (:class:`DivergenceError`,
  :class:`Interrupted`, :class:`BackendUnavailableError`, :class:`OutputError`).
* :mod:`.chunking`: long compiled calls in chunks (Ctrl-C between chunks, progress).
* :mod:`.validation`: argument checks with one signature, ``check_*(name, value, ...)``.

The rule for exception types: a value of the wrong *type* (a string where a number
goes, a float where an integer goes, a dict where a state goes, a missing ``seed``)
raises :class:`TypeError`; a value of the right type but the wrong *value*, range or
shape raises :class:`ValueError`.  Every message is one line that names the argument
and says what is allowed.
"""

from .errors import BackendUnavailableError, DivergenceError, Interrupted, OutputError

__all__ = ["BackendUnavailableError", "DivergenceError", "Interrupted", "OutputError"]
