"""The terminal: the PC beside a seal machine that relays authorisations to it and its signed events to the
service. It holds no keys; a journal keeps what it read until the service has it."""
