"""Delivery fault tests: real servers on 127.0.0.1 that answer the way real servers fail."""
