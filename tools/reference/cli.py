"""cli.md: every command and flag of ``custom-api-sidecar``, read from the parser the CLI builds."""

from __future__ import annotations

import argparse
import re

from custom_api_sidecar import cli

from ._markdown import MissingDescription, code, page, prose, table

ENV_VARIABLE = re.compile(r"\$([A-Z][A-Z0-9_]*[A-Z0-9])")


def parser() -> argparse.ArgumentParser:
    return cli._parser()


def subcommands(root: argparse.ArgumentParser) -> dict[str, tuple[str, argparse.ArgumentParser]]:
    """name -> (one-line help, parser), in the order the CLI adds them."""
    (action,) = [a for a in root._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
    return {name: (helps.get(name, ""), sub) for name, sub in action.choices.items()}


def documented_actions(sub: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    """(group title, action) for every argument but -h/--help."""
    out = []
    for group in sub._action_groups:
        for action in group._group_actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            out.append((group.title or "", action))
    return out


def help_text(sub: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help:
        return ""
    formatter = sub._get_formatter()
    return formatter._expand_help(action)


def env_variables(text: str) -> list[str]:
    return ENV_VARIABLE.findall(text)


def _value(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.choices:
        return " or ".join(code(choice) for choice in action.choices)
    metavar = action.metavar or (action.dest.upper() if action.option_strings else action.dest)
    return code(metavar)


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS, [], ""):
        return ""
    return code(action.default)


def _command(name: str, summary: str, sub: argparse.ArgumentParser) -> str:
    sections = [f"## `{name}`", prose(summary[:1].upper() + summary[1:] + ".") if summary else ""]
    if sub.description:
        sections.append(prose(sub.description))
    sections.append("```\n" + sub.format_usage().strip().removeprefix("usage: ") + "\n```")
    groups: dict[str, list[tuple[str, ...]]] = {}
    for title, action in documented_actions(sub):
        text = help_text(sub, action)
        if not text:
            raise MissingDescription(
                f"custom-api-sidecar {name} {'/'.join(action.option_strings) or action.dest}: no help"
            )
        names = ", ".join(code(option) for option in action.option_strings) or code(action.dest)
        variables = ", ".join(code(v) for v in env_variables(text))
        repeat = " (repeatable)" if isinstance(action, argparse._AppendAction) and "repeatable" not in text else ""
        required = " **Required.**" if action.required and action.option_strings else ""
        groups.setdefault(title, []).append(
            (names, _value(action), _default(action), variables, prose(text + repeat) + required)
        )
    for title, rows in groups.items():
        heading = {"positional arguments": "Arguments", "options": "Options"}.get(title, title[:1].upper() + title[1:])
        group = next(g for g in sub._action_groups if g.title == title)
        note = f"\n\n{prose(group.description)}" if group.description else ""
        sections.append(
            f"### {heading}{note}\n\n" + table(("flag", "value", "default", "environment", "description"), rows)
        )
    return "\n\n".join(s for s in sections if s)


def _options(root: argparse.ArgumentParser) -> str:
    """Options of the program itself (before any command), such as --version."""
    rows = []
    for _, action in documented_actions(root):
        text = help_text(root, action)
        if not text:
            raise MissingDescription(f"custom-api-sidecar {'/'.join(action.option_strings)}: no help")
        rows.append((", ".join(code(o) for o in action.option_strings), prose(text)))
    return "## Options of the program\n\n" + table(("flag", "description"), rows)


def render() -> str:
    root = parser()
    commands = subcommands(root)
    overview = table(("command", "what it does"), ((f"[`{n}`](#{n})", prose(h)) for n, (h, _) in commands.items()))
    return page(
        "Command line",
        f"`{root.prog}`: {root.description} Every setting of `serve` is a flag that falls back to the "
        "environment variable named beside it (see [Environment variables](environment.md)); a flag "
        "given on the command line wins. Defaults are those of a clean environment.",
        "## Commands\n\n" + overview,
        *([_options(root)] if documented_actions(root) else []),
        *(_command(name, summary, sub) for name, (summary, sub) in commands.items()),
    )
