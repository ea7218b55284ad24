"""Errors the user sees: each names the file, the field or row, and the rule."""


class BmsError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""


class ConfigError(BmsError):
    """A configuration file (cell, chemistry, scenario) breaks a rule."""


class LogFormatError(BmsError):
    """A measurement log cannot be used."""
