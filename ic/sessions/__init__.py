"""Session XML from the appliance: streaming parser and typed model."""
