"""The mail servers: configuration rendered from the registry's settings."""
