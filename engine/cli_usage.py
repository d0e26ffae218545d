"""Usage errors of the command line — a missing option, a value that is not a whole number, an
unknown option or command — in the user's language (`cli.usage.*` texts of the catalogue).

typer 0.29 vendors click with its messages as English f-strings rather than gettext calls, so no
translation can be installed into them. The root command group therefore runs typer without its
error display and says the usage error itself, from the exception's fields: the parameter
(`param`, `param_type`), the option name, and for a value typer could not convert, the Pydantic
error behind it (`int_parsing`, `bool_parsing`, `enum`, …). The three messages typer only gives as
text (no such command, missing command, extra arguments) are recognised by their fixed wording;
anything else is shown as typer wrote it, under the localised frame.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Optional, Sequence

import typer
from typer._click.exceptions import (  # typer's vendored click: the classes it raises
    BadOptionUsage,
    BadParameter,
    ClickException,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
)
from typer.core import TyperGroup
from typer.exceptions import Abort

from engine.i18n import t

# Pydantic error types of a value typer could not convert → the text saying what is wrong with it.
_VALUE_ERRORS = {
    "int_parsing": "cli.usage.not_int", "int_from_float": "cli.usage.not_int", "int_type": "cli.usage.not_int",
    "float_parsing": "cli.usage.not_number", "float_type": "cli.usage.not_number",
    "decimal_parsing": "cli.usage.not_number", "bool_parsing": "cli.usage.not_bool",
    "enum": "cli.usage.not_choice", "literal_error": "cli.usage.not_choice",
    "datetime_parsing": "cli.usage.not_datetime", "datetime_from_date_parsing": "cli.usage.not_datetime",
    "date_parsing": "cli.usage.not_datetime", "date_from_datetime_parsing": "cli.usage.not_datetime",
}

# The usage errors typer raises with nothing but an English sentence (typer/core.py, typer/_click/core.py).
_NO_SUCH_COMMAND = re.compile(r"No such command '(?P<name>.*?)'\.(?: Did you mean (?P<suggestions>.+)\?)?")
_MISSING_COMMAND = re.compile(r"Missing command\.")
_EXTRA_ARGUMENTS = re.compile(r"Got unexpected extra argument\(s\) \((?P<args>.*)\)")


def _hint(exc: BadParameter) -> str:
    if exc.param_hint is not None:
        hints = [exc.param_hint] if isinstance(exc.param_hint, str) else list(exc.param_hint)
        return " / ".join(hints)
    return exc.param.get_error_hint() if exc.param is not None else ""


def _value_reason(exc: BadParameter) -> str:
    """Why the value is not acceptable, from the Pydantic error typer converted it with."""
    cause: Any = exc.__cause__
    errors = cause.errors() if cause is not None and hasattr(cause, "errors") else []
    if errors and errors[0].get("type") in _VALUE_ERRORS:
        error = errors[0]
        expected = (error.get("ctx") or {}).get("expected", "")
        return t(_VALUE_ERRORS[error["type"]], value=error.get("input"), choices=expected)
    return str(exc.message)


def usage_message(exc: ClickException) -> str:
    """The one-line reason of a usage error, in the process locale."""
    if isinstance(exc, MissingParameter):
        kind = exc.param_type or (exc.param.param_type_name if exc.param is not None else "parameter")
        key = {"argument": "cli.usage.missing_argument", "option": "cli.usage.missing_option"}.get(
            kind, "cli.usage.missing_parameter")
        return t(key, param=_hint(exc))
    if isinstance(exc, BadParameter):
        return t("cli.usage.invalid_value", param=_hint(exc), reason=_value_reason(exc))
    if isinstance(exc, NoSuchOption):
        if exc.possibilities:
            return t("cli.usage.no_such_option_suggest", option=exc.option_name,
                     choices=", ".join(sorted(exc.possibilities)))
        return t("cli.usage.no_such_option", option=exc.option_name)
    if isinstance(exc, BadOptionUsage):
        key = "cli.usage.option_takes_no_value" if "does not take a value" in exc.message else "cli.usage.option_needs_value"
        return t(key, option=exc.option_name)
    if (m := _NO_SUCH_COMMAND.fullmatch(exc.message)) is not None:
        if m["suggestions"]:
            return t("cli.usage.no_such_command_suggest", name=m["name"], choices=m["suggestions"])
        return t("cli.usage.no_such_command", name=m["name"])
    if _MISSING_COMMAND.fullmatch(exc.message):
        return t("cli.usage.missing_command")
    if (m := _EXTRA_ARGUMENTS.fullmatch(exc.message)) is not None:
        return t("cli.usage.extra_arguments", args=m["args"])
    return exc.format_message()


def usage_report(exc: ClickException) -> str:
    """What the user sees for a usage error: the command's usage, where help is, and the reason."""
    lines = []
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        pieces = " ".join(ctx.command.collect_usage_pieces(ctx))
        lines.append(t("cli.usage.usage", usage=f"{ctx.command_path} {pieces}".rstrip()))
        if ctx.command.get_help_option(ctx) is not None:
            lines.append(t("cli.usage.try_help", command=ctx.command_path, option=ctx.help_option_names[0]))
        lines.append("")
    lines.append(f"{t('cli.error')}: {usage_message(exc)}")
    return "\n".join(lines)


class LocalizedGroup(TyperGroup):
    """The root `mcr` group: usage errors are said in the user's language (see the module doc)."""

    def main(self, args: Optional[Sequence[str]] = None, prog_name: Optional[str] = None,
             complete_var: Optional[str] = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                standalone_mode=False, **extra)
        try:
            # Without standalone mode typer returns the command's result, or the code of an Exit.
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            if exc.message:  # with rich, the help was printed while the error was made
                typer.echo(exc.message, err=True)
            sys.exit(exc.exit_code)
        except ClickException as exc:
            typer.echo(usage_report(exc), err=True)
            sys.exit(exc.exit_code)
        except Abort:
            typer.echo(t("cli.usage.aborted"), err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)
