"""Private utilities: optional dependencies and the Lightning versions the framework relies on."""
