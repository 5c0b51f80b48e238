"""Notify's rules, pure: who gets which message on which channel, when it may be sent,
how a delivery attempt moves a message on. No I/O, no nameko, no pymongo."""
