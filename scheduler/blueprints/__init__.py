"""Templated blueprints (Kestra's format): a catalog of flow templates, filled in and validated.

    catalog = load_catalog(["my-blueprints/"])
    blueprint = catalog.get("team-buckets")
    generated = generate_flow(blueprint, {"teams": "sales,finance", "region": "eu-west-1"})
    generated.text   # the flow YAML;  generated.flow  # the validated `Flow`

The `assetline blueprint` commands and the web UI's blueprint page call only what is exported
here. Modules: `template` (reading a blueprint file), `arguments` (checking and asking for
values), `render` (the Jinja2 sandbox with `<< >>`/`<% %>` and line mapping), `generate`
(render + validate), `catalog` (where blueprints come from), `errors`.
"""

from scheduler.blueprints.arguments import (
    ask_arguments,
    declared_as,
    missing_arguments,
    parse_argument_pairs,
    resolve_arguments,
)
from scheduler.blueprints.catalog import BUILTIN, ENV_VAR, Catalog, load_catalog
from scheduler.blueprints.errors import (
    ArgumentError,
    BlueprintError,
    BlueprintFileError,
    CatalogError,
    GeneratedFlowError,
)
from scheduler.blueprints.generate import GeneratedFlow, generate_flow
from scheduler.blueprints.render import Rendered, render_blueprint
from scheduler.blueprints.template import Blueprint, parse_blueprint

__all__ = [
    "BUILTIN",
    "ENV_VAR",
    "ArgumentError",
    "Blueprint",
    "BlueprintError",
    "BlueprintFileError",
    "Catalog",
    "CatalogError",
    "GeneratedFlow",
    "GeneratedFlowError",
    "Rendered",
    "ask_arguments",
    "declared_as",
    "generate_flow",
    "load_catalog",
    "missing_arguments",
    "parse_argument_pairs",
    "parse_blueprint",
    "render_blueprint",
    "resolve_arguments",
]
