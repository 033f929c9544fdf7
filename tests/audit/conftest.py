"""The UI test's fixtures (real ``magec serve``, loopback fakes, Chromium) come from tests/ui."""

from tests.ui.conftest import artifacts, browser, fakes, page, pw, server  # noqa: F401 - fixtures
