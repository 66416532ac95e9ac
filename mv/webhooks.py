"""The webhook Replicate calls when a prediction completes (only with MV_PUBLIC_URL).

The request carries no login: its signature is its proof. A forged, stale or replayed
delivery changes nothing; an accepted one is handed to a worker, which takes the
prediction's row one step further (mv.jobs.deliver)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mv import tasks
from mv.models import WebhookDelivery
from mv.providers import ProviderError, get_provider
from mv.providers.base import WebhookRejected, WebhookUnreadable

logger = logging.getLogger("mv.webhooks")


def _refuse(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


@csrf_exempt
@require_POST
def replicate_webhook(request: HttpRequest) -> JsonResponse:
    provider = get_provider("replicate")  # this address is Replicate's own
    if not provider.pushes_updates:
        return _refuse(404, "webhooks_off", "This site takes no webhooks (it has no public address set).")
    try:
        webhook_id, prediction = provider.read_webhook(dict(request.headers), request.body)
    except WebhookUnreadable as exc:
        logger.warning("refused a signed webhook: %s", exc)
        return _refuse(400, "invalid_json", "The webhook's body is not a prediction in JSON.")
    except WebhookRejected as exc:
        logger.warning("refused a webhook: %s", exc)
        return _refuse(401, "bad_signature", "The webhook's signature or timestamp is not valid.")
    except ProviderError as exc:
        logger.warning("could not check a webhook: %s", exc.message)
        return _refuse(503, "secret_unavailable", "The webhook could not be checked just now; send it again later.")
    if not WebhookDelivery.first_time(webhook_id):
        return _refuse(409, "replayed", "This webhook was already received.")
    tasks.deliver_later(prediction["id"], prediction)
    return JsonResponse({"status": "accepted"})
