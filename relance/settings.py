"""Django settings: safe defaults for the embedded SQLite install, everything else from the
environment (see docs/configuration.md)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

from relance.checkout.config import accounts_from_environment
from relance.lib.env import data_dir, env_bool, env_int, env_list, env_str, secret_key

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = data_dir()

SECRET_KEY = secret_key(DATA_DIR)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "relance.accounts.admin_site.AdminConfig",  # django.contrib.admin, with two-factor
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "anymail",
    # Two-factor sign-in (TOTP) for admins: docs/configuration.md.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",  # before relance.accounts: its sign-in receivers run first (relance/accounts/signin.py)
    "relance.accounts",
    "relance.ledger",
    "relance.bank",  # bank statements matched to open items (docs/bank.md)
    "relance.dunning",
    "relance.channels",
    "relance.documents",
    "relance.insights",
    "relance.audit",
    "relance.hooks",  # webhooks out (docs/webhooks.md)
    "relance.console",
    "relance.checkout",
    "relance.replies",  # inbound replies read and understood (docs/replies.md)
    "relance.portal",
    # The REST API (docs/api.md); "ninja" serves its docs page's scripts from our own files.
    "ninja",
    "relance.api",
]
# An import starts without the apps of what it never does (a third of Django's set-up,
# docs/performance.md): the API's docs page (ninja, with pydantic) and e-mail's checks
# (anymail's, with requests; its signals need no app).
if env_str("RELANCE_COMMAND") == "import":
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in {"ninja", "anymail"}]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "relance.console.bodysize.BodySizeMiddleware",  # refuses before the CSRF check reads
    "django_otp.middleware.OTPMiddleware",
    "relance.accounts.two_factor.TwoFactorMiddleware",
    "relance.console.headers.SecurityHeadersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into our 429 page
]

ROOT_URLCONF = "relance.urls"
WSGI_APPLICATION = "relance.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "relance.console.access.context",
            ],
            # Money and dates written the one way messages write them, on every page.
            "builtins": ["relance.channels.formatting"],
        },
    },
]

# SQLite file in the user's data directory unless DATABASE_URL says otherwise.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'relance.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work during a write; IMMEDIATE avoids lock upgrades that fail
    # with "database is locked" when two writers meet. A writer waits for the one in
    # place: a web request up to 10 s (then fails rather than hang), a command (relance.cli
    # sets RELANCE_COMMAND) up to RELANCE_COMMAND_WAIT seconds, an hour by default, so that
    # a run and an import take turns however long the other writes. Set first: switching
    # a fresh database to WAL already waits for the others.
    _wait = env_int("RELANCE_COMMAND_WAIT", 3600) if env_str("RELANCE_COMMAND") else 10
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            f"PRAGMA busy_timeout={_wait * 1000}; PRAGMA journal_mode=WAL;"
            " PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536;"
            " PRAGMA temp_store=MEMORY;"
        ),
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_SQLITE_NAME") or None}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "console:today"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling (django-axes, docs/configuration.md): AXES_FAILURE_LIMIT failed
# sign-ins for one account, or from one client address, lock that account or address out
# for AXES_COOLOFF_MINUTES; every refused try during the lock starts the cool-off again.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one, not the pair
AXES_LOCKOUT_CALLABLE = "relance.accounts.signin.locked_out"
AXES_USERNAME_CALLABLE = "relance.accounts.signin.username_of"
# The client's address behind RELANCE_PROXY_COUNT reverse proxies (X-Forwarded-For).
RELANCE_PROXY_COUNT = env_int("RELANCE_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "relance.lib.clientip.client_ip"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = False
# Password reset links by e-mail: valid 1 day; at most this many requests an hour per address.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 86400)
RELANCE_PASSWORD_RESET_LIMIT = env_int("RELANCE_PASSWORD_RESET_LIMIT", 5)

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or DATA_DIR / "static")
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or DATA_DIR / "media")
MEDIA_URL = "media/"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it even before collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Uploads (imports) up to 200 MB; larger files go through the CLI.
DATA_UPLOAD_MAX_MEMORY_SIZE = 200 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Files uploaded at once (e-invoices gathered as a folder); Django's default is 100.
DATA_UPLOAD_MAX_NUMBER_FILES = 1000
# The console's imports (docs/imports.md): the largest file it takes, and the size from
# which its preview and import run in a thread of the server, the page showing progress.
RELANCE_IMPORT_MAX_BYTES = env_int("RELANCE_IMPORT_MAX_BYTES", 200 * 1024 * 1024)
RELANCE_IMPORT_BACKGROUND_BYTES = env_int("RELANCE_IMPORT_BACKGROUND_BYTES", 1024 * 1024)

# Behind HTTPS in production (RELANCE_HTTPS=1): everything `check --deploy` asks for.
HTTPS = env_bool("RELANCE_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
# A form whose token failed gets the console's page, or the portal's (not Django's own).
CSRF_FAILURE_VIEW = "relance.console.errors.csrf_failure"
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Pages load only our own files: no inline script or style, no CDN, no framing (the admin
# needs no exception). Permissions-Policy and Cache-Control: relance/console/headers.py.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}
# The REST API's rate limit per key (docs/api.md): a burst, then requests per minute.
RELANCE_API_BURST = env_int("RELANCE_API_BURST", 120)
RELANCE_API_RATE = env_int("RELANCE_API_RATE", 600)
# Two-factor sign-in: codes from any authenticator app, named "Relance" in it; on, admins
# (organisation admins and staff) without a device are sent to enrol before anything else.
OTP_TOTP_ISSUER = env_str("RELANCE_OTP_ISSUER", "Relance")
RELANCE_REQUIRE_2FA_FOR_ADMINS = env_bool("RELANCE_REQUIRE_2FA_FOR_ADMINS", False)

# Background work through Django's tasks API; workers run `relance worker`.
TASKS = {
    "default": {
        "BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        # "runs": the daily run's parts, taken by `relance worker` (relance.dunning.run_tasks).
        "QUEUES": ["default", "runs"],
    }
}

# Late-payment rates read from their publishers by `relance rates fetch` (docs/penalties.md);
# the base URLs change only for a mirror or a test server. Time-out in seconds per request.
RELANCE_RATES_ECB_URL = env_str("RELANCE_RATES_ECB_URL", "https://data-api.ecb.europa.eu")
RELANCE_RATES_BOE_URL = env_str("RELANCE_RATES_BOE_URL", "https://www.bankofengland.co.uk")
RELANCE_RATES_TIMEOUT = env_int("RELANCE_RATES_TIMEOUT", 30)

# Where messages' templates come from before the files (relance.channels.templates): an
# organisation's own wording, edited in the console (docs/templates.md).
RELANCE_TEMPLATE_LOADERS = env_list(
    "RELANCE_TEMPLATE_LOADERS", ["relance.channels.overrides.DatabaseLoader"]
)

# The channel modules, imported at start-up: each registers its transport (docs/deployment.md).
RELANCE_CHANNELS = env_list(
    "RELANCE_CHANNELS",
    ["relance.channels.email", "relance.channels.sms", "relance.documents.channel"],
)

# E-mail: SMTP by default (a local relay on port 25 unless configured); a provider through
# django-anymail with EMAIL_BACKEND=anymail.backends.<provider>.EmailBackend.
# Relance's SMTP backend tells a send that may have left from one that surely did not.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "relance.channels.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "relance@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
RELANCE_EMAIL_FROM_ORGANISATION = env_bool("RELANCE_EMAIL_FROM_ORGANISATION", False)
RELANCE_MESSAGE_ID_DOMAIN = env_str("RELANCE_MESSAGE_ID_DOMAIN")
# The providers' webhooks answer 404 until it is set: user:password, the credentials of the
# URL given to the provider; comma-separated while rotating (docs/deployment.md).
ANYMAIL = {"WEBHOOK_SECRET": env_list("ANYMAIL_WEBHOOK_SECRET", [])}

# Registered letters (docs/registered-mail.md): "" = posted by hand; else a provider of the
# registry, each a class in its own module.
RELANCE_REGISTERED_MAIL_PROVIDER = env_str("RELANCE_REGISTERED_MAIL_PROVIDER")
RELANCE_REGISTERED_MAIL_PROVIDERS = {"maileva": "relance.channels.maileva.Maileva"}
RELANCE_MAILEVA = {
    "CLIENT_ID": env_str("MAILEVA_CLIENT_ID"),
    "CLIENT_SECRET": env_str("MAILEVA_CLIENT_SECRET"),
    "USERNAME": env_str("MAILEVA_USERNAME"),
    "PASSWORD": env_str("MAILEVA_PASSWORD"),
    "SANDBOX": env_bool("MAILEVA_SANDBOX", True),  # production: MAILEVA_SANDBOX=0
    "API_URL": env_str("MAILEVA_API_URL"),  # default: the sandbox's or production's
    "AUTH_URL": env_str("MAILEVA_AUTH_URL"),
    "NOTIFICATION_EMAIL": env_str("MAILEVA_NOTIFICATION_EMAIL"),
    "TIMEOUT": env_int("MAILEVA_TIMEOUT", 30),
}

# Text messages through Vonage's SMS API (docs/sms.md): the channel is registered only with
# a key and its secret; without them a text step becomes a task for a person. The webhooks
# (receipts, inbound STOP) answer 404 until the signature secret is set.
VONAGE_API_KEY = env_str("VONAGE_API_KEY")
VONAGE_API_SECRET = env_str("VONAGE_API_SECRET")
VONAGE_SIGNATURE_SECRET = env_str("VONAGE_SIGNATURE_SECRET")
VONAGE_SIGNATURE_METHOD = env_str("VONAGE_SIGNATURE_METHOD", "md5hash")
VONAGE_SIGN_REQUESTS = env_bool("VONAGE_SIGN_REQUESTS", False)
VONAGE_BASE_URL = env_str("VONAGE_BASE_URL", "https://rest.nexmo.com")
RELANCE_SMS_CALLBACK_URL = env_str("RELANCE_SMS_CALLBACK_URL")
RELANCE_SMS_SENDER = env_str("RELANCE_SMS_SENDER", "Relance")
RELANCE_SMS_FROM_NUMBER = env_str("RELANCE_SMS_FROM_NUMBER")
RELANCE_SMS_MAX_SEGMENTS = env_int("RELANCE_SMS_MAX_SEGMENTS", 3)
RELANCE_SMS_TIMEOUT = env_int("RELANCE_SMS_TIMEOUT", 10)
RELANCE_SMS_WEBHOOK_MAX_AGE = env_int("RELANCE_SMS_WEBHOOK_MAX_AGE", 300)

# Paying online through Stripe Checkout (docs/payments-online.md): the organisations listed,
# with their keys (RELANCE_STRIPE_SECRET_KEY[_<SLUG>], RELANCE_STRIPE_WEBHOOK_SECRET[_<SLUG>]).
RELANCE_STRIPE = {
    "ORGANISATIONS": env_list("RELANCE_STRIPE_ORGANISATIONS", []),
    "ACCOUNTS": accounts_from_environment(os.environ),
    "API_BASE": env_str("RELANCE_STRIPE_API_BASE", "https://api.stripe.com"),
    "TIMEOUT": env_int("RELANCE_STRIPE_TIMEOUT", 20),
}
# Webhooks out (docs/webhooks.md): https only and public addresses only (SSRF), unless
# these allow plain http / loopback and private networks (both on with DEBUG, for a local
# receiver); seconds to wait for an answer; days of failures before an endpoint is disabled.
RELANCE_WEBHOOKS_ALLOW_HTTP = env_bool("RELANCE_WEBHOOKS_ALLOW_HTTP", DEBUG)
RELANCE_WEBHOOKS_ALLOW_PRIVATE = env_bool("RELANCE_WEBHOOKS_ALLOW_PRIVATE", DEBUG)
RELANCE_WEBHOOKS_TIMEOUT = env_int("RELANCE_WEBHOOKS_TIMEOUT", 10)
RELANCE_WEBHOOKS_DISABLE_AFTER_DAYS = env_int("RELANCE_WEBHOOKS_DISABLE_AFTER_DAYS", 5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}

# The debtor's portal (docs/portal.md): the address its links start with, how long a link
# lives, and requests a minute per link and per client address before a 429.
RELANCE_BASE_URL = env_str("RELANCE_BASE_URL", "http://localhost:8000")
RELANCE_PORTAL_LINK_DAYS = env_int("RELANCE_PORTAL_LINK_DAYS", 60)
RELANCE_PORTAL_RATE_LIMIT = env_int("RELANCE_PORTAL_RATE_LIMIT", 30)
RELANCE_PORTAL_ADDRESS_RATE_LIMIT = env_int("RELANCE_PORTAL_ADDRESS_RATE_LIMIT", 60)
RELANCE_PORTAL_PAID_HOLD_DAYS = env_int("RELANCE_PORTAL_PAID_HOLD_DAYS", 7)
RELANCE_PORTAL_PLAN_HOLD_DAYS = env_int("RELANCE_PORTAL_PLAN_HOLD_DAYS", 14)
