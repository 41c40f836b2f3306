"""Errors raised for bad user input. Each message is one line that names the problem and where it is
(the field path in a scene file, or the file and line of a mesh file). The CLI prints it and exits
with status 2, without a traceback."""


class RaysynthError(ValueError):
    """Base class of all user-facing input errors; ``str(err)`` is a single line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split("\n")))


class SceneError(RaysynthError):
    """A scene file or scene dictionary is invalid (message starts with the field path)."""
