"""what a variant declares, validated: variant.toml, its [load] table, the schema, the upstream registry."""
