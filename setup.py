"""The build step pyproject.toml cannot say: ship the lessons and the app notebook.

The repository keeps them at the top (``notebooks/``, ``app/``), where JupyterLab, nbval
and Binder expect them; a wheel needs them inside the package. ``build_py`` copies them
to ``armbp/data/`` of the build, so an installed armbp finds them with
``armbp.lab.shipped()``; a checkout (and an editable install) reads the top-level folders.
Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent

# (source in the repository, destination under armbp/data/ in the build)
DATA = [
    ("notebooks", "lessons"),
    ("app", "app"),
]
# Left out of the copies: caches and editor state.
SKIP = {"__pycache__", ".ipynb_checkpoints"}


class build_py_with_data(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads notebooks/ and app/ in the checkout
        for source, target in DATA:
            root = HERE / source
            files = sorted(
                p
                for p in root.rglob("*")
                if p.is_file() and not SKIP & set(p.relative_to(root).parts)
            )
            if not any(p.suffix == ".ipynb" for p in files):
                raise FileNotFoundError(
                    f"no notebooks in {root}: build armbp from a checkout or its sdist"
                )
            for path in files:
                dest = (
                    Path(self.build_lib) / "armbp" / "data" / target / path.relative_to(root)
                )
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)


setup(cmdclass={"build_py": build_py_with_data})
