"""Errors the user sees: each names the file, the field or row, and the rule.

`BmsError` is the one root: the `bms` command turns it into one line on stderr and exit
status 2 (bms/cli.py). Targets (bms.targets.base.TargetError), the wire protocol
(hil.protocol.ProtocolError) and CAN (hil.can.codec.CanError) raise under it too."""


class BmsError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""


class ConfigError(BmsError):
    """A configuration file (cell, chemistry, scenario, campaign) or option breaks a rule."""


class LogFormatError(BmsError):
    """A measurement log cannot be used."""


class OutputError(BmsError):
    """An output path cannot be written, or writing it would destroy an input or an earlier run."""


def one_line(msg: str) -> str:
    """A message as one line: the first and the last non-empty line of a multi-line text
    (e.g. a build log's tail), inner whitespace collapsed."""
    lines = [" ".join(x.split()) for x in str(msg).splitlines()]
    lines = [x for x in lines if x]
    if not lines:
        return "(no message)"
    if len(lines) <= 2:
        return " ".join(lines)
    return f"{lines[0]} ... {lines[-1]}"
