"""Grassroots participation bot: core types and the composition root."""
