"""Jinja2 templates: documents a village issues (``documents/``), rendered to PDF when nobody uploads one."""
