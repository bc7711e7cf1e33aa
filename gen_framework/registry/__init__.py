"""The plugin registry: what a plugin declares, entry-point discovery, validation, provenance and lookup.

- :mod:`~gen_framework.registry.spec`: :class:`PluginSpec`, the family names and the checks a spec must pass.
- :mod:`~gen_framework.registry.plugin_registry`: discovery, the process-wide :data:`registry`, provenance.
- :mod:`~gen_framework.registry.plugin_index`: installed plugins listed from their metadata without importing
  them (``genfw plugins``).

This package imports no model code: the family bases, persistence and the CLI import it, never the reverse.
"""

from gen_framework.registry.plugin_registry import (
    BLOCK_ENV,
    DISABLE_AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    PluginRecord,
    PluginRegistry,
    class_provenance,
    get_plugin,
    list_plugins,
    register,
    registry,
)
from gen_framework.registry.spec import (
    FAMILIES,
    FAMILY_BASE_PATHS,
    PLUGIN_API_VERSION,
    Family,
    PluginSpec,
    Status,
    api_compatible,
    class_path,
    family_of,
    validate_spec,
)

__all__ = [
    "BLOCK_ENV",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "FAMILIES",
    "FAMILY_BASE_PATHS",
    "PLUGIN_API_VERSION",
    "Family",
    "PluginRecord",
    "PluginRegistry",
    "PluginSpec",
    "Status",
    "api_compatible",
    "class_path",
    "class_provenance",
    "family_of",
    "get_plugin",
    "list_plugins",
    "register",
    "registry",
    "validate_spec",
]
