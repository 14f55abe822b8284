"""The serial protocol between a seal machine and its terminal (docs/protocol.md §3-§4)."""
