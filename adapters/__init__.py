"""The outside world: WeCom API, notification channels, the KV store. Nothing else talks out."""
