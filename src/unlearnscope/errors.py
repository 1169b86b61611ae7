"""Exceptions raised by unlearnscope. Each message says what was wrong and what to do."""


class UnlearnscopeError(Exception):
    """Base class for every error unlearnscope raises on bad input."""


class UnsupportedArchitectureError(UnlearnscopeError):
    """The model's architecture has no anatomy adapter."""


class NotAModelDirectoryError(UnlearnscopeError):
    """A path given as a model is not a Hugging Face model directory."""


class HookNameError(UnlearnscopeError, KeyError):
    """A hook name or pattern matched no hook point."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class HookNeverFiredError(UnlearnscopeError):
    """A forward pass ran inside a hook context but some requested hooks never fired."""


class OutOfRangeError(UnlearnscopeError, IndexError):
    """A layer, expert, head or neuron index outside the model."""


class EditError(UnlearnscopeError):
    """A weight edit could not be applied, undone or verified."""
