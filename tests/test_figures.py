"""Every figure of the registry renders from the committed results with no two texts overlapping and no text
outside the figure; display names, not raw ids, label them."""
import itertools

import pytest
from matplotlib.text import Text

from segformer_lab import figures, plotting
from segformer_lab.analysis import paper_dir

RESULTS = paper_dir()  # the committed results


def drawn_texts(fig) -> list:
    """(text, window extent) of every non-empty text matplotlib draws for `fig`."""
    drawn, original = [], Text.draw

    def record(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append((self.get_text(), self.get_window_extent(renderer)))

    Text.draw = record
    try:
        fig.canvas.draw()
    finally:
        Text.draw = original
    return drawn


def layout_problems(fig, tolerance: float = 0.5) -> list:
    """What a reader would trip on: texts that overlap one another or leave the figure."""
    texts = drawn_texts(fig)
    box = fig.bbox
    problems = [f"{t!r} leaves the figure" for t, b in texts
                if b.x0 < box.x0 - tolerance or b.y0 < box.y0 - tolerance or b.x1 > box.x1 + tolerance
                or b.y1 > box.y1 + tolerance]
    for (t1, b1), (t2, b2) in itertools.combinations(texts, 2):
        width = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
        height = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
        if width > tolerance and height > tolerance:
            problems.append(f"{t1!r} overlaps {t2!r}")
    return problems


def test_the_check_finds_overlaps_and_texts_outside():
    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.text(0.5, 0.5, "one label")
    ax.text(0.5, 0.5, "another label")
    ax.set_xticks([0.0, 0.01], ["a long tick label", "its neighbour"])
    fig.text(0.9, 0.5, "runs off the right edge")
    problems = layout_problems(fig)
    plt.close(fig)
    assert "'one label' overlaps 'another label'" in problems
    assert "'a long tick label' overlaps 'its neighbour'" in problems
    assert "'runs off the right edge' leaves the figure" in problems


@pytest.mark.parametrize("name", figures.figure_names())
def test_every_figure_reads_cleanly(name):
    fig = figures.draw(name, RESULTS)
    if fig is None:
        assert "." in name, f"{name}: the key figure of an ablation has nothing to draw from the committed results"
        pytest.skip(f"{name}: nothing to draw at the committed preset")
    problems = layout_problems(fig)
    texts = [t for t, _ in drawn_texts(fig)]
    width, fonts = fig.get_figwidth(), {t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip()}
    plotting.pyplot().close(fig)
    assert not problems, f"{name}: " + "; ".join(problems)
    assert width <= plotting.DOUBLE + 0.01 and min(fonts) >= plotting.FONT
    raw = [t for t in texts if "_" in t and not t.startswith("$")]
    assert not raw, f"{name}: raw ids shown: {raw}"


def test_unknown_figure_names_the_figures():
    with pytest.raises(KeyError, match="no figure 'nope'; figures: pe_vs_mixffn"):
        figures.draw("nope", RESULTS)
