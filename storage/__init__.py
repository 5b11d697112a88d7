"""Storage: the only package that speaks SQL. Engines, migrations and repositories."""
