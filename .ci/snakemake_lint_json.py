"""``snakemake --lint json`` that really prints JSON.

Snakemake 9's command line accepts ``--lint json`` but calls ``WorkflowApi.lint()`` without the
format (9.27.1: cli.py ``args_to_api``), so the lints come as text on stderr. This runs the same
command line with the API's ``lint`` asked for JSON, which then goes to stdout as
``{"snakefiles": [...], "rules": [...]}``. Arguments: snakemake's (``--lint json`` included).
"""

import sys

from snakemake import api, cli

_lint = api.WorkflowApi.lint


def lint_as_json(self, json: bool = False):
    return _lint(self, json=True)


api.WorkflowApi.lint = lint_as_json
cli.main(sys.argv[1:])  # exits: 0 no lint, 1 lints or an error
