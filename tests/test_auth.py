"""API keys belong to users; logins and API keys are throttled (django-axes)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from mv import flavors
from mv.models import ApiKey, Project
from mv.pipeline import projects


def project_of(user):
    return projects.create_project(owner=user, video_description=f"{user.username}'s", flavor=flavors.resolve("default"),
                                   number_of_scenes=1)


def get(url: str, key: str, **extra):
    return Client().get(url, HTTP_X_API_KEY=key, **extra)


# --- keys belong to users -----------------------------------------------------------------------


def test_env_keys_name_their_user_and_a_bare_key_is_the_api_user(user, other_user, settings):
    settings.MV_API_KEYS = ["alice:alice-key-123", "bob:bob-key-456", "shared-key-789"]
    alices, bobs = project_of(user), project_of(other_user)
    assert get(f"/api/mv/projects/{alices.pk}", "alice-key-123").status_code == 200
    assert get(f"/api/mv/projects/{bobs.pk}", "alice-key-123").status_code == 404
    assert get(f"/api/mv/projects/{bobs.pk}", "bob-key-456").status_code == 200
    assert get(f"/api/mv/projects/{alices.pk}", "shared-key-789").status_code == 404
    response = Client().post("/api/mv/create_scenes", json.dumps({"idea": "x", "wait": 0}),
                             content_type="application/json", HTTP_X_API_KEY="shared-key-789")
    assert response.status_code in (200, 202)
    assert Project.objects.get(pk=response.json()["project_id"]).owner.username == settings.MV_API_USER


def test_a_created_key_is_shown_once_stored_hashed_and_revocable_in_the_admin(user, other_user, staff_user, capsys):
    call_command("mv_api_key", "create", "alice", "--name", "laptop")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    row = ApiKey.objects.get(user=user)
    assert row.name == "laptop" and key.startswith("mv_") and key not in row.key_hash and row.prefix in key
    alices = project_of(user)
    assert get(f"/api/mv/projects/{alices.pk}", key).status_code == 200
    assert get(f"/api/mv/projects/{project_of(other_user).pk}", key).status_code == 404
    row.refresh_from_db()
    assert row.last_used_at is not None
    assert get(f"/api/mv/projects/{alices.pk}", key[:-1] + ("A" if key[-1] != "A" else "B")).status_code == 401
    staff_user.is_superuser = True
    staff_user.save()
    admin = Client()
    admin.force_login(staff_user)
    assert key not in admin.get(f"/admin/mv/apikey/{row.pk}/change/").content.decode()
    admin.post("/admin/mv/apikey/", {"action": "revoke", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert get(f"/api/mv/projects/{alices.pk}", key).status_code == 401


def test_the_key_command_refuses_an_unknown_user(transactional_db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user named"):
        call_command("mv_api_key", "create", "nobody")


# --- throttling ---------------------------------------------------------------------------------


def login(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_repeated_wrong_passwords_lock_the_user_name_out(user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for attempt in range(5):
        response = login(Client(), "alice", f"wrong-{attempt}", address=f"10.0.0.{attempt + 1}")
    assert response.status_code == 429 and "Too many failed attempts" in response.content.decode()
    wrong = login(Client(), "alice", "still-wrong", address="10.0.0.99")  # a wrong one from elsewhere: locked
    assert wrong.status_code == 429 and "Too many failed attempts" in wrong.content.decode()
    other = get_user_model().objects.create_user("carol", password="pw-carol-123")
    assert login(Client(), other.username, "pw-carol-123", address="10.0.0.98").status_code == 302


def test_a_locked_user_name_still_lets_the_right_password_in_from_an_address_not_over_its_limit(user, settings):
    """Locking a name must not lock its owner out for everyone: guessing from five addresses
    locks "alice", yet alice logs in from hers (which failed nothing)."""
    settings.AXES_FAILURE_LIMIT = 5
    for attempt in range(5):
        login(Client(), "alice", f"wrong-{attempt}", address=f"10.0.0.{attempt + 1}")
    client = Client()
    assert login(client, "alice", "pw-alice-123", address="10.0.0.99").status_code == 302
    assert "_auth_user_id" in client.session
    # an address over its own limit is still refused, right password or not
    for attempt in range(5):
        login(Client(), f"guess-{attempt}", "x", address="10.0.0.2")
    assert login(Client(), "alice", "pw-alice-123", address="10.0.0.2").status_code == 429


def test_a_login_clears_only_its_own_user_names_failures_not_other_names_guessed_from_that_address(
        user, other_user, settings):
    """Four wrong passwords for alice, bob logs in from the same address, repeat: the fifth
    wrong guess locks alice (a reset by bob used to clear the address for everyone)."""
    settings.AXES_FAILURE_LIMIT = 5
    address = "10.4.4.4"
    answers = []
    for _round in range(4):
        for attempt in range(4):
            answers.append(login(Client(), "alice", f"wrong-{_round}-{attempt}", address=address).status_code)
        if 429 in answers:
            break
        assert login(Client(), "bob", "pw-bob-123", address=address).status_code == 302
    assert answers[:4] == [200] * 4 and answers[4] == 429
    assert login(Client(), "alice", "wrong-again", address="10.4.4.5").status_code == 429  # the name is locked too


def test_bad_api_keys_are_not_forgiven_by_someone_elses_login_from_that_address(user, other_user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.MV_API_KEYS = ["alice:alice-key-123"]
    address = "10.5.5.5"
    codes = []
    for attempt in range(13):
        codes.append(get("/api/mv/get_config_flavors", f"guess-{attempt}", REMOTE_ADDR=address).status_code)
        assert login(Client(), "bob", "pw-bob-123", address=address).status_code == 302
    assert codes[:4] == [401] * 4 and set(codes[4:]) == {429}


def test_a_user_who_logs_in_after_typos_starts_again_from_zero(user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _round in range(3):
        for _ in range(2):
            assert login(Client(), "alice", "typo", address="10.6.6.6").status_code == 200
        assert login(Client(), "alice", "pw-alice-123", address="10.6.6.6").status_code == 302


def test_failed_passwords_from_an_address_do_not_block_a_valid_api_key_from_it(user, settings):
    """Logins and keys are counted apart per address: a colleague's typos behind the same NAT
    do not stop the scripts' key, and bad keys do not lock the login page."""
    settings.AXES_FAILURE_LIMIT = 3
    settings.MV_API_KEYS = ["alice:alice-key-123"]
    address = "10.7.7.7"
    for attempt in range(3):
        login(Client(), f"guess-{attempt}", "x", address=address)
    assert login(Client(), "alice", "pw-alice-123", address=address).status_code == 429
    assert get("/api/mv/get_config_flavors", "alice-key-123", REMOTE_ADDR=address).status_code == 200
    for attempt in range(3):
        get("/api/mv/get_config_flavors", f"guess-{attempt}", REMOTE_ADDR="10.8.8.8")
    assert get("/api/mv/get_config_flavors", "alice-key-123", REMOTE_ADDR="10.8.8.8").status_code == 429
    assert login(Client(), "alice", "pw-alice-123", address="10.8.8.8").status_code == 302


def test_repeated_failures_from_one_address_lock_it_out(user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for attempt in range(5):
        login(Client(), f"guess-{attempt}", "x", address="10.9.9.9")
    assert login(Client(), "alice", "pw-alice-123", address="10.9.9.9").status_code == 429
    assert login(Client(), "alice", "pw-alice-123", address="10.1.1.1").status_code == 302


def test_the_lock_lifts_after_the_cool_off(user, settings):
    from datetime import timedelta

    from axes.models import AccessAttempt
    from django.utils import timezone

    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        login(Client(), "alice", "wrong", address="10.0.0.5")
    assert login(Client(), "alice", "pw-alice-123", address="10.0.0.5").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert login(Client(), "alice", "pw-alice-123", address="10.0.0.5").status_code == 302


def test_repeated_bad_api_keys_from_one_address_get_a_429(user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.MV_API_KEYS = ["alice:alice-key-123"]
    for attempt in range(4):
        assert get("/api/mv/get_config_flavors", f"guess-{attempt}", REMOTE_ADDR="10.2.2.2").status_code == 401
    locked = get("/api/mv/get_config_flavors", "guess-5", REMOTE_ADDR="10.2.2.2")
    assert locked.status_code == 429 and locked.json()["error"] == "too_many_attempts"
    assert get("/api/mv/get_config_flavors", "alice-key-123", REMOTE_ADDR="10.2.2.2").status_code == 429
    assert get("/api/mv/get_config_flavors", "alice-key-123", REMOTE_ADDR="10.3.3.3").status_code == 200
