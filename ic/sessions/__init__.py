"""Session XML from the appliance: streaming parser and typed model."""

# the modules other packages may import (tests/core/test_public_names.py keeps this true)
__all__ = ["model", "parser", "spill", "timeutil"]
