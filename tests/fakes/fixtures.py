"""pytest fixtures for the fake Replicate server."""

from __future__ import annotations

import pytest

from tests.fakes.replicate_server import FakeReplicate


@pytest.fixture(scope="session")
def _fake_replicate_server():
    fake = FakeReplicate().start()
    yield fake
    fake.stop()


def _use(fake: FakeReplicate, settings):
    """Reset the fake and point the app at it (MV_PROVIDER=replicate)."""
    fake.reset()
    settings.MV_PROVIDER = "replicate"
    settings.REPLICATE_API_TOKEN = fake.token
    settings.REPLICATE_BASE_URL = fake.url
    settings.MV_POLL_INTERVAL = 0.02
    return fake


def _check_inputs(fake: FakeReplicate) -> None:
    """A create the real model would refuse (or silently ignore part of) fails the test that
    made it, even when the app handled the 422 gracefully; tests of the 422 itself set
    ``fake.invalid_creates_expected``."""
    invalid, expected = list(fake.invalid_creates), fake.invalid_creates_expected
    fake.reset()
    assert expected or not invalid, f"the app sent inputs the real models would refuse: {invalid}"


@pytest.fixture
def fake_replicate(_fake_replicate_server, settings):
    yield _use(_fake_replicate_server, settings)
    _check_inputs(_fake_replicate_server)


@pytest.fixture(scope="session")
def _fake_replicate_tls_server():
    fake = FakeReplicate().start(tls=True)
    yield fake
    fake.stop()


@pytest.fixture
def fake_replicate_tls(_fake_replicate_tls_server, settings, monkeypatch):
    """The fake over https; the client trusts its certificate through SSL_CERT_FILE."""
    monkeypatch.setenv("SSL_CERT_FILE", str(_fake_replicate_tls_server.cert_file))
    yield _use(_fake_replicate_tls_server, settings)
    _check_inputs(_fake_replicate_tls_server)
