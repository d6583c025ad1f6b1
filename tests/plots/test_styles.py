"""cbir.plots.RemedyStyles: how remedies look in every figure."""

from matplotlib.colors import to_rgb

from cbir.plots import RemedyStyles


def test_seventeen_enhancers_get_distinct_colours_and_none_is_grey():
    styles = RemedyStyles()
    colours = [to_rgb(styles.colour(f"e{i}")) for i in range(17)]
    assert len(set(colours)) == 17
    assert to_rgb(styles.colour("none")) == to_rgb(RemedyStyles.NO_RESTORER) not in colours
    assert styles.colour("e3") == styles.colour("e3")  # stable per enhancer
    assert styles.hatch("standard") == "" and styles.hatch("robust") != ""
