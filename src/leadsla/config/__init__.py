"""``leadsla.yaml``: read (:func:`load_config`) and turned into the core's rules
(:func:`build_rulebook`).

The modules, each for one responsibility: :mod:`~leadsla.config.document` (YAML with
line numbers, located problems), :mod:`~leadsla.config.schema` (the models of the keys),
:mod:`~leadsla.config.qualify` (the scoring and assignment sections),
:mod:`~leadsla.config.checks` (names one key uses that another defines),
:mod:`~leadsla.config.load` (file → :class:`Config`) and :mod:`~leadsla.config.build`
(:class:`Config` → the core's rulebook).
"""

from leadsla.config.build import build_delivery, build_objectives, build_rulebook
from leadsla.config.document import ConfigError
from leadsla.config.load import load_config, load_config_text
from leadsla.config.schema import Config

__all__ = [
    "Config",
    "ConfigError",
    "build_delivery",
    "build_objectives",
    "build_rulebook",
    "load_config",
    "load_config_text",
]
