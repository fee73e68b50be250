"""The interactive shell: prompt_toolkit line editing, TAB completion, history; commands run on
the engine thread and print as they go."""

from __future__ import annotations

import os
import sys
import threading

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.history import FileHistory, InMemoryHistory

from .complete import complete

PROMPT = "vpp# "


class GrammarCompleter(Completer):
    def __init__(self, engine) -> None:
        self.engine = engine

    def get_completions(self, document, complete_event):
        text = document.text_before_cursor
        try:
            cands = self.engine.call(lambda: complete(self.engine.tree, self.engine.session.ctx, text))
        except Exception:
            return
        partial = "" if not text or text[-1].isspace() else text.split()[-1]
        for c in cands:
            unique = len(cands) == 1 and not c.endswith("/")
            yield Completion(c + (" " if unique else ""), start_position=-len(partial), display=c)


def run_repl(engine) -> int:
    """Read-eval-print until quit/Ctrl-D. Ctrl-C clears the line or aborts a running command."""
    try:
        history = FileHistory(os.path.expanduser("~/.vppsh_history"))
    except OSError:
        history = InMemoryHistory()
    ps = PromptSession(history=history, completer=GrammarCompleter(engine), complete_while_typing=False)
    while not engine.quit_requested:
        try:
            line = ps.prompt(PROMPT)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        done = threading.Event()
        result = {}

        def finished(err):
            result["err"] = err
            done.set()

        engine.call(lambda: engine.session.submit(line, finished))
        try:
            while not done.wait(0.2):
                pass
        except KeyboardInterrupt:
            engine.call(engine.session.abort)
            done.wait(5)
        if result.get("err"):
            print(result["err"])
        sys.stdout.flush()
    return 0
