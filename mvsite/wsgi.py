"""WSGI entry point (gunicorn mvsite.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mvsite.settings")
application = get_wsgi_application()
