"""The admin REST API (/api/v1), health endpoints and metrics."""
