"""``python -m unlearnscope.cli``: the ``unlearnscope`` command."""

from . import main

main()
