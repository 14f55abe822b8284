"""The seal machine emulator: its state, logic, camera and serial line (docs/protocol.md, the machine side)."""
