"""Which waiting paid work starts next: a free prediction slot goes to the user with the
fewest running, round robin, first in first out within a user; a user at their cap waits in
their own queue. Pure functions (no database), like mv.costs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class WaitingItem:
    """A piece of paid work waiting for a prediction slot."""

    user_id: Hashable
    created_at: datetime
    item_id: Hashable


def choose_to_start(waiting: Iterable[WaitingItem], active_by_user: Mapping[Hashable, int], *,
                    per_user_cap: int | None, free_slots: int) -> list[WaitingItem]:
    """Which waiting items start now, in order.

    Each free slot goes to the user with the fewest active predictions (counting the ones
    just chosen), so one user's long queue never holds back another user's first item for
    more than one turn; users tied on that take turns, the one whose next item has waited
    longest first. Within a user, first in first out. A user at ``per_user_cap`` active
    predictions (``None``: no cap) waits in their own queue.
    """
    queues: dict[Hashable, list[WaitingItem]] = defaultdict(list)
    for item in waiting:
        queues[item.user_id].append(item)
    for queue in queues.values():
        queue.sort(key=lambda item: (item.created_at, str(item.item_id)), reverse=True)  # pop() takes the oldest
    active = {user: active_by_user.get(user, 0) for user in queues}
    chosen: list[WaitingItem] = []
    while len(chosen) < free_slots:
        ready = [user for user, queue in queues.items() if queue and (per_user_cap is None or active[user] < per_user_cap)]
        if not ready:
            break
        user = min(ready, key=lambda u: (active[u], queues[u][-1].created_at, str(u)))
        chosen.append(queues[user].pop())
        active[user] += 1
    return chosen
