"""The interactive shell in a real terminal (tmux): prompt, TAB, `?`, history, Ctrl-C, Ctrl-D.

tmux renders what prompt_toolkit draws, so assertions read the screen a user would see.
"""

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")


class Term:
    def __init__(self, tmp_path):
        self.name = f"vppsh-test-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.name]  # a server of its own: no race with another test's
        self.home = tmp_path
        self.sock = tmp_path / "cli.sock"
        cmd = (f"HOME={shlex.quote(str(tmp_path))} {shlex.quote(sys.executable)} -m vppsh "
               f"--cli-socket {shlex.quote(str(self.sock))} --api-socket {shlex.quote(str(tmp_path / 'api.sock'))}; "
               f"echo vppsh-exit=$?; sleep 60")
        subprocess.run(self.tmux + ["new-session", "-d", "-s", self.name, "-x", "120", "-y", "40",
                        "-e", f"PYTHONPATH={os.getcwd()}", cmd], check=True)
        try:
            self.wait_for("vpp#")
        except BaseException:
            self.close()
            raise

    def keys(self, *keys):
        subprocess.run(self.tmux + ["send-keys", "-t", self.name, *keys], check=True)

    def type(self, text):
        subprocess.run(self.tmux + ["send-keys", "-t", self.name, "-l", text], check=True)

    def screen(self):
        return subprocess.run(self.tmux + ["capture-pane", "-p", "-t", self.name], check=True,
                              capture_output=True, text=True).stdout

    def wait_for(self, text, timeout=15):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            s = self.screen()
            if text in s:
                return s
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not on screen:\n{self.screen()}")

    def line(self):
        """The last non-empty screen line (where the cursor is)."""
        return [l for l in self.screen().splitlines() if l.strip()][-1]

    def close(self):
        subprocess.run(self.tmux + ["kill-server"], capture_output=True)


@pytest.fixture
def term(tmp_path):
    t = Term(tmp_path)
    yield t
    t.close()


def test_prompt_runs_commands_and_reports_errors(term):
    term.type("show version")
    term.keys("Enter")
    term.wait_for("built by")
    term.type("foo")
    term.keys("Enter")
    term.wait_for("unknown input `foo'")


def test_tab_completes_path_words_and_live_values(term):
    term.type("create loopback interface")
    term.keys("Enter")
    term.wait_for("loop0")
    term.type("sh")
    term.keys("Tab")
    term.wait_for("vpp# show")
    term.type("hard")
    term.keys("Tab")
    term.wait_for("vpp# show hardware-interfaces")
    term.type("loo")  # a live interface name
    term.keys("Tab")
    term.wait_for("show hardware-interfaces loop0")
    term.keys("Enter")
    term.wait_for("Ethernet address de:ad:00:00:00:00")


def test_question_mark_help(term):
    term.type("show runtime ?")
    term.keys("Enter")
    term.wait_for("show runtime [verbose|v]")


def test_history_recall_and_ctrl_c(term):
    term.type("echo first-command")
    term.keys("Enter")
    term.wait_for("\nfirst-command")
    term.type("echo abandoned-line")
    term.keys("C-c")
    time.sleep(0.3)
    assert term.line().rstrip() == "vpp#"  # Ctrl-C cleared the line
    term.keys("Up")
    term.wait_for("vpp# echo first-command")
    term.keys("C-u")
    term.type("wait 30")
    term.keys("Enter")
    time.sleep(0.3)
    term.keys("C-c")  # aborts the running command
    term.wait_for("Aborted due to a keypress.")
    assert "echo first-command" in (term.home / ".vppsh_history").read_text()
    assert "abandoned-line" not in (term.home / ".vppsh_history").read_text()


def test_ctrl_d_exits_cleanly(term):
    assert term.sock.exists()  # the interactive shell serves the CLI socket too
    term.keys("C-d")
    term.wait_for("vppsh-exit=0")
    assert not term.sock.exists()
