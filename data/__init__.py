"""Data: the generated tinyworld, loaders for the standard formats, and text preparation."""
