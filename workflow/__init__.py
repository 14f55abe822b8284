"""Seal requests and their approval: the matters catalogue, approval chains, time limits, execution, delivery."""
