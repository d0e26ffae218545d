"""A flow family outside the product, registered through engine/plugins.py by tests/integration/test_plugins.py."""
