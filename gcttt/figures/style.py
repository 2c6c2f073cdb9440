"""The house style of figures and their labels, shared by the analysis scripts and by the pictures the
sweeps' trials draw (`gcttt.figures.episode_pictures`): matplotlib only, no other layer."""

from __future__ import annotations

import textwrap

BACKBONE_LABELS = {"gcbc": "GC-BC", "gciql": "GC-IQL", "saw": "SAW"}


def backbone_label(name: str) -> str:
    return BACKBONE_LABELS.get(name, name)


def style() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "savefig.dpi": 200,
            "pdf.fonttype": 42,
        }
    )


def add_caption(fig, text: str, width_chars: int | None = None) -> None:
    """Wrap `text` along the bottom of the figure and lay the axes out above it (constrained layout).

    `width_chars` defaults to what fits the figure's width at the caption's 8-point font.
    """
    lines = textwrap.wrap(text, width=width_chars or int(fig.get_figwidth() * 16))
    height_in = fig.get_figheight()
    band = (0.135 * len(lines) + 0.12) / height_in
    fig.set_layout_engine("constrained", rect=(0, band, 1, 1 - band))
    fig.text(0.01, 0.03 / height_in, "\n".join(lines), ha="left", va="bottom", fontsize=8, color="0.25")
