"""The HTTP face of sealgate: thin routers over the apps' service functions."""

from api.app import create_app

__all__ = ["create_app"]
