"""Maps the top-level ``recipes/`` and ``models/`` folders into the ``tfbench`` package.

``recipes/x.py`` installs as ``tfbench.recipes.x`` and ``models/g4g/`` as
``tfbench.models.g4g``, in editable and regular installs alike.
"""

from setuptools import find_packages, setup

MAPPED = {"recipes": "tfbench.recipes", "models": "tfbench.models"}

packages = find_packages(include=["tfbench", "tfbench.*"])
package_dir = {"tfbench": "tfbench"}
for folder, dotted in MAPPED.items():
    for sub in find_packages(include=[folder, f"{folder}.*"]):
        name = dotted + sub[len(folder):]
        packages.append(name)
        package_dir[name] = sub.replace(".", "/")

setup(packages=packages, package_dir=package_dir)
