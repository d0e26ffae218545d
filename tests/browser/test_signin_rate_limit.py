"""Sign-in in a real browser: wrong passwords until the rate limit, and the page says so.

Its own server: the limit also counts per address, and every browser here is 127.0.0.1."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from tests.browser.conftest import PASSWORD, LiveServer, sign_in, start_server, stop_server


@pytest.fixture(scope="module")
def lonely_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    work = tmp_path_factory.mktemp("serve-signin")
    live = start_server(f"sqlite:///{work / 'mcr.db'}", work, MCR_SIGNIN_MAX_FAILURES="3")
    yield live
    stop_server(live)


def test_wrong_password_until_rate_limited_the_page_says_so(lonely_server: LiveServer,
                                                            new_page: Callable[..., Any]) -> None:
    page = new_page()
    for _ in range(3):
        sign_in(page, lonely_server.url, "SZ-AM2", "wrong password")
        assert "/signin" in page.url
        assert "工号或密码不正确" in page.content()
    # now even the right password is refused until the lock ends, and the page says when
    sign_in(page, lonely_server.url, "SZ-AM2", PASSWORD)
    assert "/signin" in page.url
    text = page.locator("main").inner_text()
    assert "锁定" in text and "分钟" in text
