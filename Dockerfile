# One image for web, workers and flower; the command differs per service (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends make libpq5 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt requirements-dev.txt ./
RUN python -m venv /app/.venv && /app/.venv/bin/pip install -r requirements.txt flower==2.2.0 \
    && touch /app/.venv/.runtime
COPY . .
# The Makefile's install stamp must be newer than the copied requirements files.
RUN touch /app/.venv/.runtime
ENV PATH="/app/.venv/bin:$PATH" DJANGO_SETTINGS_MODULE=annotate.settings.production
RUN SECRET_KEY=collectstatic-only ANNOTATE_VAR_DIR=/tmp/var python manage.py collectstatic --noinput
EXPOSE 8000
