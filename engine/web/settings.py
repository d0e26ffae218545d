"""Settings of the web app, from the environment (MCR_BASE_URL, MCR_MAX_UPLOAD_MB, session limits)."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.auth.accounts import AuthSettings, _env_int
from engine.templates import DEFAULT_BASE_URL, base_url


@dataclass(frozen=True)
class WebSettings:
    base_url: str = DEFAULT_BASE_URL
    auth: AuthSettings = field(default_factory=AuthSettings)
    max_upload_bytes: int = 10 * 1024 * 1024

    @property
    def secure_cookies(self) -> bool:
        """Always Secure when the public address is https; otherwise per request (see deps.cookie_secure)."""
        return self.base_url.startswith("https://")

    @classmethod
    def from_env(cls) -> "WebSettings":
        return cls(base_url=base_url(), auth=AuthSettings.from_env(),
                   max_upload_bytes=_env_int("MCR_MAX_UPLOAD_MB", 10) * 1024 * 1024)
