"""The durable event spine: inbox, router, workers."""
