"""Styled 404, 403 and 500 pages with the site's header and a way back; JSON under /api/."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from mv import flavors
from mv.pipeline import projects


def _assert_page_shell(html: str) -> None:
    """The site's page: its header with the brand linking home, its stylesheet, and a way back."""
    assert '<header class="topbar">' in html
    assert '<a class="brand" href="/">MV Studio</a>' in html
    assert "mv/app.css" in html and "mv/favicon.svg" in html
    assert 'href="/">Back to your projects</a>' in html


def test_an_unknown_page_is_a_styled_404_with_the_header_and_a_way_back(alice_client):
    response = alice_client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    _assert_page_shell(html)
    assert "Page not found" in html
    assert 'href="/create/">New project</a>' in html  # the logged-in header and nav
    assert "Resolver404" not in html and "Traceback" not in html


def test_an_unknown_project_id_says_the_project_was_not_found(alice_client):
    response = alice_client.get(f"/quick-gen/{uuid.uuid4()}/")
    assert response.status_code == 404
    html = response.content.decode()
    _assert_page_shell(html)
    assert "find that project" in html
    assert "No such project" not in html  # the view's internal message is not shown


def test_another_users_project_looks_exactly_like_an_unknown_one(client, user, other_user):
    project = projects.create_project(owner=user, video_description="mine", flavor=flavors.resolve("default"),
                                      number_of_scenes=1)
    client.force_login(other_user)
    theirs = client.get(f"/quick-gen/{project.pk}/")
    unknown = client.get(f"/quick-gen/{uuid.uuid4()}/")
    assert theirs.status_code == unknown.status_code == 404
    assert "find that project" in theirs.content.decode()
    assert str(project.pk) not in theirs.content.decode()


def test_api_paths_keep_answering_json_errors(alice_client):
    response = alice_client.get("/api/mv/no-such-endpoint")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_found"


def test_a_form_posted_without_its_csrf_token_gets_the_styled_403(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/create/submit/", {"video_description": "x"})
    assert response.status_code == 403
    html = response.content.decode()
    _assert_page_shell(html)
    assert "That form had expired" in html and "CSRF" not in html


def test_a_staff_only_page_refused_by_permission_is_the_styled_403(rf, user):
    from django.core.exceptions import PermissionDenied

    from mv.error_pages import permission_denied

    request = rf.get("/somewhere/")
    request.user = user
    response = permission_denied(request, PermissionDenied())
    assert response.status_code == 403
    _assert_page_shell(response.content.decode())
    assert "can't open this page" in response.content.decode()


@pytest.mark.urls("tests.error_urls")
def test_a_crash_is_the_styled_500_without_the_database_or_the_error_text():
    """No database fixture: the test fails if the 500 page touches the database."""
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    _assert_page_shell(html)
    assert "Something went wrong" in html
    assert "boom" not in html and "Errno" not in html and "/tmp/" not in html


@pytest.mark.urls("tests.error_urls")
def test_a_crash_under_the_api_is_a_json_500():
    response = Client(raise_request_exception=False).get("/api/boom/")
    assert response.status_code == 500 and response.json()["error"] == "server_error"
    assert "boom" not in response.json()["message"]


def test_the_500_page_falls_back_to_plain_html_when_its_template_fails(rf, monkeypatch):
    from mv import error_pages as errors

    def broken(name: str):
        raise RuntimeError("template engine down")

    monkeypatch.setattr(errors.loader, "get_template", broken)
    response = errors.server_error(rf.get("/x/"))
    assert response.status_code == 500 and "Something went wrong" in response.content.decode()


def test_favicon_is_linked_and_favicon_ico_answers(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("mv/favicon.svg")
    icon = client.get(response["Location"])
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content)
    assert 'rel="icon"' in client.get("/accounts/login/").content.decode()
