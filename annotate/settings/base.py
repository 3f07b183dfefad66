"""Base settings, driven by environment variables.

Defaults make `make demo` work with no external service: SQLite and kombu's filesystem
transport under var/. DATABASE_URL and CELERY_BROKER_URL switch to PostgreSQL and Redis/RabbitMQ.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from kombu import Exchange, Queue

from annotate.conf import AnnotateOptions
from annotate.settings.env import env_bool, env_int, env_list, env_str, media_origin, secret_key_from_env_or_file

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("ANNOTATE_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = secret_key_from_env_or_file(VAR_DIR)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "annotate",
    "labeling",
    "training",
    "crowdpay",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "annotate.middleware.ContentSecurityPolicyMiddleware",
    "annotate.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After the session (a language kept there is read), before CommonMiddleware (its APPEND_SLASH check resolves
    # URLs in the active language).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "annotate.urls"
WSGI_APPLICATION = "annotate.wsgi.application"
ASGI_APPLICATION = "annotate.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "annotate.context_processors.roles",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"  # empty = unset
# Health checks: a persistent connection (CONN_MAX_AGE > 0) that died while idle (database restart,
# failover, network cut) is replaced at its first use in a request instead of failing it with a 503
# (tests/faults/test_faults_database_outage.py).
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0), conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write to one SQLite file: WAL plus IMMEDIATE transactions
    # turn "database is locked" races into short waits.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5)
    if not env_bool("DB_JIT", False):
        # PostgreSQL's JIT compiles a plan when its estimated cost passes jit_above_cost: on the hot
        # statements (next_items' lock and category peek, the quality page's aggregates) compilation took
        # 689 of 707 ms and ~150 ms of every `next` at 100k items, for queries that run in milliseconds.
        # Off for every statement of ours, at connection start (no extra round trip); DB_JIT=true restores
        # the server's default. tests/test_db.py::test_postgres_jit_is_off_on_our_connections.
        DATABASES["default"]["OPTIONS"]["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
# Log-in failure limits (annotate/ratelimit.py), counted in the default cache over the window.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)  # one client IP + one username
LOGIN_FAILURE_IP_LIMIT = env_int("LOGIN_FAILURE_IP_LIMIT", 50)  # one client IP, any username
LOGIN_FAILURE_ACCOUNT_LIMIT = env_int("LOGIN_FAILURE_ACCOUNT_LIMIT", 20)  # one username, any client IP
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 300)
SIGNUP_LIMIT = env_int("SIGNUP_LIMIT", 20)  # sign-up attempts per client IP per window
SIGNUP_WINDOW_SECONDS = env_int("SIGNUP_WINDOW_SECONDS", 3600)
# Reverse proxies (IPs or CIDR networks) whose X-Forwarded-For is believed; nobody else's is.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "annotate@localhost")

# English is the default; a browser's Accept-Language, or the language cookie that the header's
# switcher sets (django.views.i18n.set_language), picks another. README "Languages" says how to add one.
LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "")
if AWS_STORAGE_BUCKET_NAME:
    # S3-compatible storage (AWS, MinIO, R2 ...): credentials and endpoint come from the
    # standard AWS_* variables that django-storages reads.
    AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL", "") or None
    AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME", "") or None
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    AWS_S3_FILE_OVERWRITE = False
    # SigV4 presigned URLs (what MinIO and every current region accept); path-style addressing when an
    # endpoint is given (MinIO, moto: no per-bucket DNS names).
    AWS_S3_SIGNATURE_VERSION = "s3v4"
    AWS_S3_ADDRESSING_STYLE = "path" if AWS_S3_ENDPOINT_URL else None
    _default_storage = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Uploads above this are refused before they are read into memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 1000)

# --- Security headers (also on in development: the same page must work in both) -------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the labeling page's JS reads it for API POSTs
# Images may come from the bucket (a presigned redirect, annotate/serving.py): its origin is allowed for img-src.
MEDIA_ORIGIN = media_origin(
    bucket=AWS_STORAGE_BUCKET_NAME,
    endpoint=AnnotateOptions.from_env().MEDIA_PUBLIC_ENDPOINT_URL or env_str("AWS_S3_ENDPOINT_URL", ""),
    region=env_str("AWS_S3_REGION_NAME", ""),
)
CONTENT_SECURITY_POLICY = (
    f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'{MEDIA_ORIGIN} data: blob:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "annotate.schema.AutoSchema",
    "EXCEPTION_HANDLER": "annotate.exceptions.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "annotate.pagination.BoundedLimitOffsetPagination",
    # DRF's parsers, with JSON nested deeper than 64 levels refused as a 400 (annotate/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "annotate.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 100,
    # Views opt in with `throttle_scope = "..."`; rates read per request (annotate/ratelimit.py).
    "DEFAULT_THROTTLE_CLASSES": ["annotate.ratelimit.ScopedRateThrottle"],
    # DRF's own throttles key anonymous clients on X-Forwarded-For when this is unset (a client picks its
    # own identity); ours use annotate.ratelimit.client_ip, which believes only TRUSTED_PROXIES.
    "NUM_PROXIES": 0,
    "DEFAULT_THROTTLE_RATES": {
        "login": env_str("THROTTLE_LOGIN", "10/min"),
        "answers": env_str("THROTTLE_ANSWERS", "600/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Annotate API",
    "DESCRIPTION": "Crowd image labeling with quality control, dataset versions and training.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Log-in failure counters and throttles live here, so every web process must see the same cache:
# Redis when REDIS_CACHE_URL is set (several hosts), else files under var/ (the processes of one host).
# Never a per-process LocMemCache: two gunicorn workers would double every limit.
REDIS_CACHE_URL = env_str("REDIS_CACHE_URL", "")
if REDIS_CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_CACHE_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery ---------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
    # Redis/SQS re-deliver an unacked message after this long; training runs for hours,
    # so it must exceed the longest task (celery#5935). The DB lease on a run is the second guard.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 48 * 3600),
    # How often a Redis worker looks for such messages: every interval x throttle seconds (kombu: 10 x 10).
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 10),
    # The lock a Redis worker holds while it restores such messages expires after this long (kombu: 300 s): a
    # worker killed while holding it delays every other worker's restore by that much.
    "unacked_mutex_expire": env_int("CELERY_UNACKED_MUTEX_EXPIRE", 300),
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            "data_folder_in": str(BROKER_DIR / "queue"),
            "data_folder_out": str(BROKER_DIR / "queue"),
            "processed_folder": str(BROKER_DIR / "processed"),
            # kombu's default is a "control" folder relative to the current directory.
            "control_folder": str(BROKER_DIR / "control"),
            "store_processed": False,
        }
    )
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [
    Queue("default", Exchange("default", type="direct"), routing_key="default"),
    Queue("ingest", Exchange("ingest", type="direct"), routing_key="ingest"),
    Queue("gpu", Exchange("gpu", type="direct"), routing_key="gpu"),
]
# Routed by task name prefix: `ingest.*` and `gpu.*` have their own workers.
CELERY_TASK_ROUTES = {
    "ingest.*": {"queue": "ingest", "routing_key": "ingest"},
    "gpu.*": {"queue": "gpu", "routing_key": "gpu"},
    "default.*": {"queue": "default", "routing_key": "default"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = False
# Periodic work (run `make beat`, or the demo's worker with an embedded beat): a training run whose
# worker died is re-enqueued once its lease has expired (broker redelivery is the first path); so are
# ingest batches and exports whose runner died.
CELERY_BEAT_SCHEDULE = {
    "training-resume-stale": {"task": "default.training_resume_stale", "schedule": 300.0},
    # Items nobody can answer any more, or that waited past their project's stall_hours, go to review.
    "quality-route-stalled": {"task": "default.quality_route_stalled", "schedule": 300.0},
    # The same for ingest batches and exports whose runner died (a free advisory lock on a running row).
    "ingest-resume-stale": {"task": "default.ingest_resume_stale", "schedule": 300.0},
    "collect-resume-stale": {"task": "default.collect_resume_stale", "schedule": 300.0},
    "exports-resume-stale": {"task": "default.exports_resume_stale", "schedule": 300.0},
    # Webhook deliveries whose message was lost (broker down at enqueue, worker killed mid-backoff).
    "webhooks-resume-stale": {"task": "default.webhooks_resume_stale", "schedule": 300.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Annotate's own settings: declared, typed and documented once in annotate/conf.py ---------------
ANNOTATE = AnnotateOptions.from_env(CHECKPOINT_DIR=str(VAR_DIR / "checkpoints")).as_dict()
