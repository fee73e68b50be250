"""TAB completion: path words, argument keywords and live values, from the same grammar tree."""

from __future__ import annotations

from .grammar import Kw, Ph, expected_next, tokenize


def complete(tree, ctx, text: str) -> list[str]:
    """Candidates for the word being typed at the end of `text` (sorted, unique)."""
    toks = tokenize(text)
    partial = ""
    if toks and not text[-1:].isspace():
        partial = toks[-1].text
        toks = toks[:-1]
    node, i = tree.root, 0
    while i < len(toks):
        c = node.child(toks[i].text)
        if c is None:
            break
        node, i = c, i + 1
    cands: set[str] = set()
    if i == len(toks):
        cands.update(n for n in node.children if n.startswith(partial))
    if node.cmd is not None and node is not tree.root:
        for e in expected_next(node.cmd.items, toks[i:], text, ctx):
            if isinstance(e, Kw):
                cands.update(w for w in e.words if w.startswith(partial))
            elif isinstance(e, Ph):
                try:
                    cands.update(c for c in e.type.complete(ctx, partial) if c.startswith(partial))
                except Exception:  # completion must never break typing
                    pass
    return sorted(cands)
