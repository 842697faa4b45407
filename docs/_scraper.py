"""sphinx-gallery image scraper for numbadn's figures.

numbadn.plot builds ``matplotlib.figure.Figure`` objects without pyplot (so a figure
never opens a window or lingers in pyplot's registry), and sphinx-gallery's own
matplotlib scraper only sees pyplot's figures.  This one saves every Figure that an
example's code block left in the example's global variables and that was not saved
before.  Named in ``conf.py`` as ``"_scraper"`` (sphinx-gallery then calls
:func:`_get_sg_image_scraper`), so the configuration stays picklable.
"""
from __future__ import annotations


class FigureScraper:
    def __init__(self):
        self.example = None
        self.saved = []  # the figures themselves, so that no id is reused

    def __repr__(self):  # sphinx-gallery compares configurations by repr
        return "FigureScraper()"

    def __call__(self, block, block_vars, gallery_conf):
        from matplotlib.figure import Figure
        from sphinx_gallery.scrapers import figure_rst

        if block_vars["src_file"] != self.example:
            self.example, self.saved = block_vars["src_file"], []
        new = [v for v in block_vars["example_globals"].values()
               if isinstance(v, Figure) and not any(v is s for s in self.saved)]
        paths = []
        for fig, path in zip(new, block_vars["image_path_iterator"]):
            fig.savefig(path, dpi=fig.dpi)
            self.saved.append(fig)
            paths.append(path)
        return figure_rst(paths, gallery_conf["src_dir"])


def _get_sg_image_scraper():
    return FigureScraper()
