"""The admin shows projects, clips (player, lineage), stitches; staff only."""

from __future__ import annotations

from mv import flavors
from mv.models import Clip
from mv.pipeline import projects, rendering


def test_admin_pages_render_with_real_rows(client, staff_user, user):
    project = projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                      number_of_scenes=1)
    projects.start_project(project)
    scene = project.scenes.get()
    old = scene.current_clip
    rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="again", scene=scene)
    scene.refresh_from_db()
    client.force_login(staff_user)
    staff_user.is_superuser = True
    staff_user.save()
    assert client.get("/admin/mv/project/").status_code == 200
    assert client.get(f"/admin/mv/project/{project.pk}/change/").status_code == 200
    page = client.get(f"/admin/mv/clip/{scene.current_clip_id}/change/").content.decode()
    assert f"/api/mv/get_video/{scene.current_clip_id}" in page and str(old.pk) in page
    listing = client.get("/admin/mv/clip/?status__exact=succeeded&kind__exact=generated").content.decode()
    assert str(old.pk) in listing
    stitch = project.stitches.get()
    assert client.get(f"/admin/mv/stitch/{stitch.pk}/change/").status_code == 200
    assert Clip.objects.count() == 2


def test_admin_is_staff_only(alice_client):
    response = alice_client.get("/admin/mv/clip/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_clip_list_shows_thumbnail_project_title_and_short_id_and_no_add(client, staff_user, user,
                                                                               django_assert_max_num_queries):
    project = projects.create_project(owner=user, video_description="Neon rooftop concert", flavor=flavors.resolve("default"),
                                      number_of_scenes=2)
    projects.start_project(project)
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    clip = Clip.objects.filter(scene__project=project).first()
    with django_assert_max_num_queries(12):  # scenes and projects come with the clips, not one query per row
        listing = client.get("/admin/mv/clip/").content.decode()
    assert f'src="/api/mv/get_video/{clip.pk}/poster"' in listing
    assert f'title="{clip.pk}">{str(clip.pk)[:8]}</code>' in listing
    assert "Neon rooftop concert" in listing
    assert str(project.pk) not in listing  # the project by its title, not its id
    assert "/admin/mv/clip/add/" not in listing
    assert "MV Studio admin" in listing and "mv/favicon.svg" in listing
    assert 'class="mv-thumb"' in listing and "mv/admin.css" in listing and 'style="' not in listing.split("<tbody>")[1]
    Clip.objects.filter(pk=clip.pk).update(duration=7.708333333333333)
    listing = client.get("/admin/mv/clip/").content.decode()
    assert "7.71 s" in listing and "7.7083" not in listing
    assert client.get("/admin/mv/clip/add/").status_code == 403
