"""The ``modelshelf`` command line face.

- :mod:`.commands`: the grammar and the handlers, shared with the IPython magics;
- :mod:`.views`: text and JSON views of the handlers' results;
- :mod:`.main`: the entry point (parse, run, print, exit code); :mod:`.progress` its tqdm
  bars; :mod:`.exit_codes` the exit code of a result.
"""

from modelshelf.cli.main import main

__all__ = ["main"]
