# syntax=docker/dockerfile:1
# transferbot: a slim image with the bot in a virtual environment, run as a non-root user.
#
#   docker build -t transferbot .
#   docker run --rm -p 3000:3000 --env-file .env \
#     -v "$PWD/transferbot.toml:/etc/transferbot/transferbot.toml:ro" transferbot
#
# Configuration: the TOML file at $TRANSFERBOT_CONFIG (mount yours there; the image carries
# the annotated example beside it as transferbot.example.toml) plus the secrets it names,
# as environment variables. See docs/configuration.md and compose.example.yml.

ARG PYTHON_VERSION=3.11

# -- build: the project as a wheel, installed with its dependencies into /opt/transferbot --
FROM python:${PYTHON_VERSION}-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/transferbot
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY providers ./providers
COPY storage ./storage
RUN /opt/transferbot/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && /opt/transferbot/bin/pip install /tmp/wheels/transferbot-*.whl \
 && /opt/transferbot/bin/transferbot --help >/dev/null

# -- runtime: python and the virtual environment, nothing else ----------------------------
FROM python:${PYTHON_VERSION}-slim AS runtime

ENV PATH=/opt/transferbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRANSFERBOT_CONFIG=/etc/transferbot/transferbot.toml \
    HEALTHCHECK_URL=http://127.0.0.1:3000/healthz

RUN groupadd --system --gid 10001 transferbot \
 && useradd --system --uid 10001 --gid transferbot --no-log-init \
      --home-dir /var/lib/transferbot --create-home --shell /usr/sbin/nologin transferbot

COPY --from=build /opt/transferbot /opt/transferbot
COPY transferbot.example.toml /etc/transferbot/transferbot.example.toml

# the working directory is where a SQLite database would go (mount a volume here for it)
WORKDIR /var/lib/transferbot
USER 10001:10001

EXPOSE 3000

# urllib, not curl: the slim image has no curl. A 503 (database down, scheduler stalled)
# raises HTTPError and fails the check; "degraded" (a provider down) is still 200.
# Set HEALTHCHECK_URL if you change server.port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4); sys.exit(0)"]

ENTRYPOINT ["transferbot"]
CMD ["serve"]
