"""Seal machines: authorisations, the serial protocol, the machine emulator, the terminal agent, event intake and
alarms."""
