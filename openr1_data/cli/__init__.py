"""The `openr1-data` command: one subcommand per stage, each a thin wrapper over a library function.

Every subcommand takes `--config recipe.yaml` plus flags, like the scripts in pipelines/ and train/, and every
stage command reads `--input` and writes `--output_dir` in the one stage-folder layout (`cli/common.py`). This
package is the only code that reads the command line. User errors (bad flags, bad data) print one message and
exit with code 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from openr1_data.publish.hub import HubUserError
from openr1_data.schema import ContractError
from openr1_data.secrets import redact
from openr1_data.teachers.base import TeacherRequestError

# What a user can fix: bad flags or recipe values (ValueError, which ContractError is), missing files or columns.
# FileExistsError: an output folder the user did not ask to replace.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ContractError,
    ValueError,
    FileNotFoundError,
    FileExistsError,
    KeyError,
)
# A teacher server that never answered: the message names the (redacted) URL and the last error; no traceback.
USER_ERRORS += (TeacherRequestError,)
# A Hub push the user must fix (unreachable endpoint, rejected token, a 4xx): the message names the endpoint.
USER_ERRORS += (HubUserError,)

# subcommand -> (module, function taking argv, one-line help). Modules are imported only when their command runs,
# so `openr1-data --help` stays fast and heavy backends are never imported by accident.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "generate": (
        "openr1_data.cli.generate",
        "main",
        "generate traces from problems with a teacher (resumable)",
    ),
    "import": (
        "openr1_data.cli.import_",
        "main",
        "reasoning traces of a public or local dataset (OpenR1-Math, OpenThoughts, s1K, ...) into a stage folder",
    ),
    "run": (
        "openr1_data.cli.chain",
        "main",
        "the whole chain from a recipe: dedup, decontaminate, generate, verify, filter, publish",
    ),
    "show": (
        "openr1_data.cli.show",
        "main",
        "print a few traces with their verdicts (--where correct=false)",
    ),
    "publish": (
        "openr1_data.cli.publish",
        "publish_main",
        "make a dataset folder with its card from a curated stage folder",
    ),
    "push": ("openr1_data.cli.publish", "main", "push a published dataset folder (card, configs) to the Hub"),
    "dedup": ("openr1_data.cli.dedup", "dedup_main", "remove exact and near-duplicate rows (MinHash + LSH)"),
    "decontaminate": ("openr1_data.cli.dedup", "decontaminate_main", "drop rows overlapping eval benchmarks"),
    "verify": (
        "openr1_data.cli.curate",
        "verify_main",
        "check every trace's answer against the gold (math-verify)",
    ),
    "filter": (
        "openr1_data.cli.curate",
        "filter_main",
        "format/quality filters, then selection (pass rate, k shortest)",
    ),
    "evaluate": (
        "openr1_data.cli.evaluate",
        "main",
        "evaluate a model on benchmarks: pass@1, maj@k, length (report)",
    ),
    "judge": (
        "openr1_data.cli.judge",
        "main",
        "ask an LLM judge about traces math-verify could not settle (yes/no)",
    ),
    "label-steps": (
        "openr1_data.cli.steps",
        "label_steps_main",
        "split traces into steps and label each (rules, or Math-Shepherd rollouts)",
    ),
    "prm-select": (
        "openr1_data.cli.steps",
        "prm_select_main",
        "keep the best-of-N traces per problem by PRM score",
    ),
    "wordle-games": (
        "openr1_data.cli.wordle",
        "games_main",
        "Wordle game states with the solver's answers (SFT warm-up data, GRPO problems)",
    ),
    "wordle-play": (
        "openr1_data.cli.wordle",
        "play_main",
        "a model plays whole held-out Wordle games: games won, turns, invalid guesses",
    ),
    "summarize": (
        "openr1_data.cli.steps",
        "summarize_main",
        "a second model writes a concise, verified summary of each trace",
    ),
}


def usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = ["usage: openr1-data <command> [--config recipe.yaml] [--flag value ...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {helptext}" for name, (_, _, helptext) in sorted(COMMANDS.items())]
    lines += ["", "Run `openr1-data <command> --help` for the flags of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `openr1-data` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"openr1-data: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[name]
    return run_command(
        f"openr1-data {name}", lambda args: getattr(importlib.import_module(module), func)(args), rest
    )


def run_command(name: str, entry: Callable[[list[str]], int | None], argv: list[str]) -> int:
    """Run a command's entry point; a user error prints one redacted line and returns 2 (`--debug`: raise it).

    The `openr1-data` subcommands and the scripts in pipelines/ and train/ all end this way."""
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        result = entry(argv)
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"{name}: error: {redact(str(err))}\n(add --debug to see the traceback)", file=sys.stderr)
        return 2
    return int(result or 0)
