"""The plugin registry: entry-point discovery, validation, provenance and lookup.

:mod:`~gen_framework.registry.plugin_registry` holds the registry itself; :mod:`~gen_framework.registry.plugin_index`
lists installed plugins from their metadata without importing them (``genfw plugins``).
"""

from gen_framework.registry.plugin_registry import (
    BLOCK_ENV,
    DISABLE_AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    FAMILIES,
    PLUGIN_API_VERSION,
    PluginRecord,
    PluginRegistry,
    PluginSpec,
    Status,
    api_compatible,
    get_plugin,
    list_plugins,
    register,
    registry,
    resolve_module_class,
    validate_spec,
)

__all__ = [
    "BLOCK_ENV",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "FAMILIES",
    "PLUGIN_API_VERSION",
    "PluginRecord",
    "PluginRegistry",
    "PluginSpec",
    "Status",
    "api_compatible",
    "get_plugin",
    "list_plugins",
    "register",
    "registry",
    "resolve_module_class",
    "validate_spec",
]
