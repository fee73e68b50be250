"""Shared fixtures: an in-process engine driven through its console CLI session (`shell`), and a
namespace name the test owns (`ns`). Importable helpers live in tests/helpers/; the layout is
described in tests/system/conftest.py."""

from __future__ import annotations

import pytest

from tests.helpers.shell import Shell


@pytest.fixture
def ns():
    """A namespace name for this test; vppsh creates it (host-ns), whatever is left is removed."""
    import os
    import uuid

    from pyroute2 import netns as pr_netns

    n = f"vppsh-t-{uuid.uuid4().hex[:8]}"
    yield n
    if os.path.exists(f"/run/netns/{n}"):
        pr_netns.remove(n)


@pytest.fixture
def shell():
    s = Shell()
    yield s
    s.close()
