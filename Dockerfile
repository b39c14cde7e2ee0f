# One image for web (daphne), worker and beat; compose.yaml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=ccportal.settings STATIC_COLLECTED=true CCPORTAL_EMBEDDED=0

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ccportal ccportal
COPY apps apps
RUN pip install --upgrade pip && pip install .
COPY . .
# collectstatic needs settings to import; these values exist only for this build step.
RUN SECRET_KEY=build DATABASE_URL=postgresql://build@localhost/build REDIS_URL=redis://localhost \
    python manage.py collectstatic --no-input

RUN useradd --create-home ccportal
USER ccportal
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "ccportal.asgi:application"]
