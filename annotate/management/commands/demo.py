"""`make demo`: migrate, create demo accounts, seed the demo projects, run a worker and the web server.

Works with no external service: SQLite and kombu's filesystem broker under var/ by default.
The seed (annotate/demo/seed.py) is crops of the real photos that installed packages ship
(annotate/demo/photos.py), or the user's ImageFolder-style folder (`--images DIR`, `make demo DEMO_IMAGES=DIR`).
`--seed-only` seeds and exits without starting servers.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from annotate.exceptions import ServiceError
from annotate.roles import Role, role_assign

DEMO_USERS = [
    ("admin", Role.ADMIN),
    ("researcher", Role.RESEARCHER),
    ("reviewer", Role.REVIEWER),
    ("volunteer1", Role.VOLUNTEER),
    ("volunteer2", Role.VOLUNTEER),
    ("volunteer3", Role.VOLUNTEER),
]


class Command(BaseCommand):
    help = "Set up and run the demo: accounts, a seeded project, a Celery worker and the web server."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--per-class", type=int, default=12, help="Seed crops per photo (the bundled photos).")
        parser.add_argument("--images", default=None, help="Seed from this ImageFolder-style folder (CLASS/IMAGE).")
        parser.add_argument("--no-train", action="store_true", help="Skip the dataset version's training run.")
        parser.add_argument("--seed-only", action="store_true", help="Set up and seed, then exit.")

    def handle(self, *args, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        logins = self._demo_accounts()
        self._seed(options["per_class"], options["images"] or os.environ.get("DEMO_IMAGES"), not options["no_train"])
        if options["seed_only"]:
            self._print_logins(logins, None)
            return
        self._serve(options["host"], options["port"], logins)

    # -- accounts ------------------------------------------------------------------------------
    def _demo_accounts(self) -> dict[str, str]:
        """Passwords are generated once and kept in var/demo_logins.json (never hard-coded)."""
        path = Path(settings.VAR_DIR) / "demo_logins.json"
        logins = json.loads(path.read_text()) if path.exists() else {}
        user_model = get_user_model()
        for username, role in DEMO_USERS:
            password = logins.get(username) or secrets.token_urlsafe(9)
            user, created = user_model.objects.get_or_create(
                username=username, defaults={"email": f"{username}@demo.local"}
            )
            if created or not user.check_password(password):
                user.set_password(password)
                if role is Role.ADMIN:
                    user.is_staff = True
                    user.is_superuser = True
                user.save()
            role_assign(user=user, role=role)
            logins[username] = password
        path.write_text(json.dumps(logins, indent=2))
        os.chmod(path, 0o600)
        return logins

    # -- seed ----------------------------------------------------------------------------------
    def _seed(self, per_class: int, images: str | None, train: bool) -> None:
        from annotate.demo.seed import demo_seed, source_default, source_folder

        try:
            if images:
                source = source_folder(Path(images))
            else:
                source = source_default(Path(settings.VAR_DIR) / "demo_seed", per_class=per_class)
            report = demo_seed(source=source, say=self.stdout.write, train=train)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Seeded {len(report.projects)} projects, {report.images} images "
            f"({report.near_duplicates} near-duplicates merged), {report.in_review} items in review, "
            f"in {report.seconds:.0f} s."
        )

    # -- processes -----------------------------------------------------------------------------
    def _serve(self, host: str, port: int, logins: dict[str, str]) -> None:
        bin_dir = Path(sys.executable).parent
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        worker = subprocess.Popen(
            [str(bin_dir / "celery"), "-A", "annotate", "worker", "-Q", "default,ingest,gpu",
             "--concurrency", "2", "--loglevel", "INFO", "--beat",
             "--schedule", str(Path(settings.VAR_DIR) / "celerybeat-schedule")],
            env=env, start_new_session=True,
        )  # fmt: skip
        web = subprocess.Popen(
            [str(bin_dir / "gunicorn"), "annotate.wsgi:application", "--bind", f"{host}:{port}",
             "--workers", "2", "--threads", "4", "--timeout", "120"],
            env=env, start_new_session=True,
        )  # fmt: skip
        self._print_logins(logins, f"http://{host}:{port}/")
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and worker.poll() is None and web.poll() is None:
                time.sleep(0.5)
        finally:
            # The main processes only: each stops its own children (gunicorn its workers; Celery its pool and
            # beat, a warm shutdown). A SIGTERM to the worker's whole group killed the pool's processes under the
            # main one, which then hung until the SIGKILL below, 30 s later, once it had run a task.
            for proc in (web, worker):
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGTERM)
            for proc in (web, worker):
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            self.stdout.write("Demo stopped (web server and worker).")

    def _print_logins(self, logins: dict[str, str], url: str | None) -> None:
        out = self.stdout
        out.write("")
        if url:
            out.write(self.style.SUCCESS(f"Annotate is running at {url}  (Ctrl-C stops the server and the worker)"))
        out.write("Demo logins (username / password):")
        for username, role in DEMO_USERS:
            out.write(f"  {role.value:<11} {username:<11} {logins[username]}")
        out.write(
            "Projects: demo-verify (grid), demo-classify, demo-boxes (detection). "
            "Start as volunteer1 on the home page, then reviewer (review queue, annotator scores), "
            f"then researcher (datasets, training). Data: {settings.VAR_DIR}"
        )
