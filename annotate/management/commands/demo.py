"""`make demo`: migrate, create demo accounts, seed a demo project, run a worker and the web server.

Works with no external service: SQLite and kombu's filesystem broker under var/ by default.
The seed images are scikit-learn's handwritten digits (they ship inside the package), rendered
to PNG and ingested through the same `ingest` command researchers use.
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
from django.core.management.base import BaseCommand

from annotate.roles import Role, role_assign

DEMO_USERS = [
    ("admin", Role.ADMIN),
    ("researcher", Role.RESEARCHER),
    ("reviewer", Role.REVIEWER),
    ("volunteer1", Role.VOLUNTEER),
    ("volunteer2", Role.VOLUNTEER),
    ("volunteer3", Role.VOLUNTEER),
]
DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


class Command(BaseCommand):
    help = "Set up and run the demo: accounts, a seeded project, a Celery worker and the web server."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--per-class", type=int, default=24, help="Seed images per digit class.")
        parser.add_argument("--seed-only", action="store_true", help="Set up and seed, then exit.")

    def handle(self, *args, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        logins = self._demo_accounts()
        self._seed_projects(options["per_class"])
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
    def _seed_projects(self, per_class: int) -> None:
        from labeling.models import Project
        from labeling.services.project_settings import project_people_update

        folder = self._render_digits(per_class)
        for slug, task_type in (("digits-verify", "verify"), ("digits-classify", "classify")):
            created = not Project.objects.filter(slug=slug).exists()
            if created:
                call_command(
                    "create_project", slug, "--type", task_type, "--votes", "3", "--categories",
                    str(folder / "categories.csv"), stdout=self.stdout,
                )  # fmt: skip
            project = Project.objects.get(slug=slug)
            # The demo's researcher owns and its reviewer reviews both projects (also in a demo seeded before).
            project_people_update(project=project, role="owners", username="researcher", add=True)
            project_people_update(project=project, role="reviewers", username="reviewer", add=True)
            if created:
                call_command("ingest", str(folder / "images"), "--project", slug, stdout=self.stdout)

    def _render_digits(self, per_class: int) -> Path:
        """Digits upscaled to 64 px PNGs; a fifth of the verify candidates sit in a wrong folder,
        like a search-engine crawl, so volunteers have real "no" answers to give."""
        import numpy as np
        from PIL import Image
        from sklearn.datasets import load_digits

        root = Path(settings.VAR_DIR) / "demo_seed"
        images_dir = root / "images"
        if (root / "categories.csv").exists():
            return root
        digits = load_digits()
        rng = np.random.default_rng(0)
        counts = dict.fromkeys(range(10), 0)
        for index in rng.permutation(len(digits.images)):
            true = int(digits.target[index])
            if counts[true] >= per_class:
                continue
            counts[true] += 1
            shown = true if rng.random() >= 0.2 else int(rng.integers(10))
            pixels = (255 - digits.images[index] * (255 / 16)).astype(np.uint8)
            img = Image.fromarray(pixels, mode="L").resize((64, 64), Image.Resampling.NEAREST)
            target = images_dir / DIGIT_NAMES[shown]
            target.mkdir(parents=True, exist_ok=True)
            img.save(target / f"digit-{index:04d}.png")
        lines = ["name,definition,wnid,parent"]
        lines += [f"{name},The handwritten digit {i} ({name}).,," for i, name in enumerate(DIGIT_NAMES)]
        (root / "categories.csv").write_text("\n".join(lines) + "\n")
        return root

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
            for proc in (web, worker):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
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
        out.write(f"Projects: digits-verify (grid), digits-classify. Data: {settings.VAR_DIR}")
