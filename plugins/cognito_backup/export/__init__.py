"""The export path: pool -> backup table."""
