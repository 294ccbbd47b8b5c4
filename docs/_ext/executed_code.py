"""``{executed-code}``: Python shown, run while the page is built, its output shown after it.

The code block is displayed, executed in a fresh namespace with stdout captured, and
followed by what it printed (a ``text`` block) and every matplotlib figure it left open
(saved as PNG under ``docs/_generated/``, which is rebuilt each time). A failing snippet
fails the build, so the printed numbers on the page are always the code's.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

GENERATED = "_generated"


class ExecutedCode(SphinxDirective):
    has_content = True

    def run(self) -> list[nodes.Node]:
        code = "\n".join(self.content)
        source = nodes.literal_block(code, code, language="python")
        out = io.StringIO()
        namespace = {"__name__": f"executed_code_{self.env.docname.replace('/', '_')}"}
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plt.close("all")
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"<{self.env.docname}>", "exec"), namespace)
        except Exception as exc:
            raise self.error(f"executed-code on {self.env.docname} failed: {type(exc).__name__}: {exc}") from None
        result: list[nodes.Node] = [source]
        printed = out.getvalue().rstrip("\n")
        if printed:
            result.append(nodes.paragraph(text="Output:"))
            result.append(nodes.literal_block(printed, printed, language="text", classes=["executed-output"]))
        folder = Path(self.env.srcdir) / GENERATED
        folder.mkdir(exist_ok=True)
        for i, number in enumerate(plt.get_fignums()):
            name = f"{self.env.docname.replace('/', '_')}_{self.lineno}_{i}.png"
            plt.figure(number).savefig(folder / name, dpi=96, bbox_inches="tight")
            # a leading "/" is relative to the source folder, whatever the page's depth
            result.append(nodes.image(uri=f"/{GENERATED}/{name}", alt="figure drawn by the code above"))
        plt.close("all")
        return result


def setup(app):
    app.add_directive("executed-code", ExecutedCode)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
