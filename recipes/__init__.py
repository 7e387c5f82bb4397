"""Dataset recipes: one file per dataset, each turning a raw folder into a datasets.DatasetDict."""

from tfbench.registry import Registry

RECIPES: Registry = Registry("recipe", entry_point_group="tfbench.recipes")
for _name in ("sample", "mead", "hdtf", "lrs2", "obamaset"):
    RECIPES.add(_name, f"tfbench.recipes.{_name}:RECIPE")
