"""Make, list and revoke users' API keys. A new key is printed once; only its hash is kept."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mv import auth
from mv.models import ApiKey


class Command(BaseCommand):
    help = "API keys: `create USERNAME [--name NAME]` prints a new key once; `list [USERNAME]`; `revoke PREFIX`."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        create = commands.add_parser("create", help="Make a key for a user and print it (once).")
        create.add_argument("username")
        create.add_argument("--name", default="", help="What the key is for (shown in the admin).")
        listing = commands.add_parser("list", help="Keys by prefix, owner, name, last use.")
        listing.add_argument("username", nargs="?")
        revoke = commands.add_parser("revoke", help="Revoke a key by its prefix.")
        revoke.add_argument("prefix")

    def handle(self, *args, action: str, **options) -> None:
        if action == "create":
            user = get_user_model().objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"No user named {options['username']!r}.")
            row, key = auth.create_key(user, options["name"])
            self.stdout.write(f"API key for {user.username} (shown only now; keep it secret):\n{key}")
        elif action == "list":
            rows = ApiKey.objects.select_related("user").order_by("created_at")
            if options["username"]:
                rows = rows.filter(user__username=options["username"])
            for row in rows:
                state = "active" if row.is_active else "revoked"
                used = row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "never used"
                self.stdout.write(f"{row.prefix}  {row.user.username}  {row.name or '-'}  {state}  {used}")
        else:
            row = ApiKey.objects.filter(prefix=options["prefix"]).first()
            if row is None:
                raise CommandError(f"No API key with prefix {options['prefix']!r}.")
            row.revoke()
            self.stdout.write(f"Revoked {row.prefix}.")
