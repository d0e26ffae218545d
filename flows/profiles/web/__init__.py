"""The profiles family's web part (engine.plugins.Plugin.web): the JSON API of CP/VP and the customer watch."""

from __future__ import annotations

from flows.profiles.web import api

ROUTERS = [api.router]
NAV: list = []
