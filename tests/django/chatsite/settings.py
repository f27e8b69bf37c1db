"""A minimal Django site using django-aws-api-gateway-websockets as its documentation sets it up.

Only the AWS endpoints differ from a deployment: tests/django/run_flow.py points boto3 at the
wsdash emulator with AWS's own environment variables (AWS_ENDPOINT_URL_APIGATEWAYV2, and an
HTTPS proxy plus AWS_CA_BUNDLE for the Management API host the package builds itself).
"""
import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
PORT = os.environ.get("WSDASH_DJANGO_PORT", "8000")

SECRET_KEY = "wsdash-test-only-not-a-secret"
DEBUG = False
# The package compares the Host header (with its port) to ALLOWED_HOSTS; Django strips the port.
ALLOWED_HOSTS = ["127.0.0.1", f"127.0.0.1:{PORT}"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_aws_api_gateway_websockets",
    "chatsite",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "chatsite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]
# SQLite in a temporary file, or the PostgreSQL server a test started (WSDASH_DJANGO_PG_PORT):
# then Django's own migrations create the tables wsdash reads.
if os.environ.get("WSDASH_DJANGO_PG_PORT"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "postgres",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": os.environ["WSDASH_DJANGO_PG_PORT"],
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["WSDASH_DJANGO_DB"],
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
LOGIN_REDIRECT_URL = "/login/"

# The package's AWS settings (its "AWS IAM setup" page): a region and a key pair.
AWS_REGION_NAME = "us-east-1"
AWS_ACCESS_KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID", "")
AWS_SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY", "")

# The package's gateway secret: API Gateway adds it to every integration request as a static
# header mapping, and the views refuse requests without it.
WEBSOCKETS = {"gateway_secret": os.environ.get("WSDASH_GATEWAY_SECRET", "")}

LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_aws_api_gateway_websockets": {"handlers": ["console"], "level": "WARNING"}},
}
