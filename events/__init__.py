"""The event contract shared by every producer and consumer."""
